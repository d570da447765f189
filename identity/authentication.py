"""Bearer tokens: knox's hashed tokens, checked by one function call and no writes.

knox's own TokenAuthentication loads every token with the same prefix through the ORM,
and deletes the expired ones, on each request: a query the ORM compiles every time and
sometimes a write, on the vote path. Compiling and running that queryset cost about
1.1 ms of CPU per request here, the same lookup as one plain statement 0.11 ms (2,000
lookups each), and the server then spent 0.33 ms planning it for 0.04 ms of execution.
So the rule lives in the database, as identity_bearer() (sql/identity_bearer.sql, which
keeps its plan per connection), and this module sends one statement, built once, that
reads the token, its user and the user's voter identity from it. Expired tokens are
refused there and purged at login (identity.services). Revocation is immediate: the row
is gone.
"""

import binascii
import functools
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS
from rest_framework import exceptions

from identity.models import VoterIdentity


# knox ships no type hints: its TokenAuthentication is Any to mypy.
class BearerTokenAuthentication(TokenAuthentication):  # type: ignore[misc]
    """`Authorization: Bearer <token>`; missing, expired, revoked or tampered tokens get 401.

    A view whose service checks the token inside its own statement (the vote) sets
    `checks_bearer_token_itself = True`: its request.user is then the token's
    BearerCredentials, read (a malformed token is 401 at once) but not looked up."""

    deferred = False

    def authenticate(self, request):
        context = getattr(request, "parser_context", None) or {}  # none on a plain request
        view = context.get("view")
        self.deferred = getattr(view, "checks_bearer_token_itself", False)
        return super().authenticate(request)

    def authenticate_credentials(self, token):
        credentials = BearerCredentials(bearer_lookup(token))
        return (credentials, None) if self.deferred else credentials.user_and_token()


class BearerCredentials:
    """A bearer token that has been read but not yet looked up: request.user on a view
    whose service checks the token inside its own statement (the vote, polls.services),
    which saves the lookup's round trip."""

    is_authenticated = True  # as far as DRF's permission checks go: a token was sent
    is_anonymous = False

    def __init__(self, lookup):
        self.lookup = lookup  # the statement parameters: token_key, digest

    def user(self):
        """The token's user, looked up now; 401 if the token is not valid."""
        return self.user_and_token()[0]

    def user_and_token(self):
        with connection.cursor() as cursor:
            cursor.execute(_lookup_statement(), self.lookup)
            row = cursor.fetchone()
        if row is None:
            raise invalid_token()
        return _user_and_token(row)


def invalid_token():
    return exceptions.AuthenticationFailed("Invalid or expired token.")


def bearer_lookup(token: bytes) -> dict[str, str]:
    """The statement parameters for a token as sent (bytes), or 401 if it cannot be one."""
    try:
        text = token.decode("ascii")
        return {"token_key": text[: CONSTANTS.TOKEN_KEY_LENGTH], "digest": hash_token(text)}
    except (UnicodeDecodeError, TypeError, binascii.Error, ValueError):
        raise invalid_token() from None


def user_from_bearer(request):
    """The user behind a plain Django request's bearer token, or AnonymousUser without
    one; a bad token raises AuthenticationFailed (401). For views outside DRF."""
    from django.contrib.auth.models import AnonymousUser

    found = BearerTokenAuthentication().authenticate(request)
    return found[0] if found else AnonymousUser()


# --- The statement and the models built from its row -------------------------------------


def _models():
    """Each model, and the column of identity_bearer() that holds its row."""
    return (
        (get_token_model(), "token"),
        (get_user_model(), "account"),
        (VoterIdentity, "identity"),
    )


@functools.cache
def _lookup_statement():
    """Every field of the token, its user and their voter identity (NULLs when
    unverified) from identity_bearer(), by name and in model field order, so that
    Model.from_db can build each."""
    columns = [
        f"(b.{row}).{field.column}"
        for model, row in _models()
        for field in model._meta.concrete_fields
    ]
    return (
        f"SELECT {', '.join(columns)}"  # noqa: S608 - column names from the models
        " FROM identity_bearer(%(token_key)s, %(digest)s) b"
    )


def _user_and_token(row):
    # The token, the user, and the voter identity or None; the first two are always
    # there (identity_bearer() answers no row without them).
    built: list[Any] = []
    start = 0
    for model, _ in _models():
        fields = model._meta.concrete_fields
        values = row[start : start + len(fields)]
        start += len(fields)
        attnames = [field.attname for field in fields]
        built.append(None if values[0] is None else model.from_db("default", attnames, values))
    auth_token, user, identity = built
    # As select_related would: no query when the vote path or the serializer reads them.
    # (None for an unverified user: reading user.voter_identity then raises, as Django's
    # reverse one-to-one does.)
    user._state.fields_cache["voter_identity"] = identity
    auth_token._state.fields_cache["user"] = user
    return user, auth_token
