"""Bearer tokens: knox's hashed tokens, looked up with one indexed query and no writes.

knox's own TokenAuthentication also loads every other token of the user and deletes
the expired ones on each request: two queries and sometimes a write, on the vote path.
Here expired tokens are refused (and purged at login instead, see identity.services).
"""

import binascii
from hmac import compare_digest

from django.utils import timezone
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS
from rest_framework import exceptions


class BearerTokenAuthentication(TokenAuthentication):
    """`Authorization: Bearer <token>`; missing, expired, revoked or tampered tokens get 401."""

    def authenticate_credentials(self, token):
        invalid = exceptions.AuthenticationFailed("Invalid or expired token.")
        try:
            token = token.decode("ascii")
            digest = hash_token(token)
        except (UnicodeDecodeError, TypeError, binascii.Error, ValueError):
            raise invalid from None
        # knox_authtoken.token_key is indexed; a key prefix matches one row in practice.
        # The voter identity rides along (LEFT JOIN): the vote path needs its voter_key,
        # and this way gets it without a query of its own.
        candidates = (
            get_token_model()
            .objects.select_related("user", "user__voter_identity")
            .filter(token_key=token[: CONSTANTS.TOKEN_KEY_LENGTH])
        )
        now = timezone.now()
        for auth_token in candidates:
            if auth_token.expiry is not None and auth_token.expiry <= now:
                continue
            if compare_digest(digest, auth_token.digest):
                return self.validate_user(auth_token)
        raise invalid


def user_from_bearer(request):
    """The user behind a plain Django request's bearer token, or AnonymousUser without
    one; a bad token raises AuthenticationFailed (401). For views outside DRF."""
    from django.contrib.auth.models import AnonymousUser

    found = BearerTokenAuthentication().authenticate(request)
    return found[0] if found else AnonymousUser()
