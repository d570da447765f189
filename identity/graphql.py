"""GraphQL for accounts: the request context every resolver gets (the REST bearer token,
read as REST reads it) and `me`. Contract: docs/api-contract.md, "GraphQL"."""

from datetime import datetime
from enum import Enum
from functools import partial
from typing import Any

import strawberry
import strawberry_django
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from rest_framework.exceptions import NotAuthenticated

from identity.authentication import BearerCredentials, BearerTokenAuthentication
from identity.selectors import verification_of
from identity.serializers import VerificationSerializer
from pollsite.graphql.context import RequestContext

Info = strawberry.Info[RequestContext, None]


class _ReadsTheTokenOnly:
    """As a view whose service checks the token itself (identity.authentication): the
    token is read from the header, a malformed one refused, but not looked up yet."""

    checks_bearer_token_itself = True


def request_context(request: HttpRequest) -> RequestContext:
    """The context of a GraphQL request: its credentials as REST reads them (no header:
    anonymous; a header that is no token: AuthenticationFailed), no database work."""
    request.parser_context = {"view": _ReadsTheTokenOnly}  # type: ignore[attr-defined]
    found = BearerTokenAuthentication().authenticate(request)
    credentials = found[0] if found else None
    return RequestContext(
        request=request, credentials=credentials, load_user=partial(_caller, credentials)
    )


def _caller(credentials: BearerCredentials | None) -> Any:
    return AnonymousUser() if credentials is None else credentials.user()


@strawberry.enum
class VerificationStatus(Enum):
    # identity.serializers.VERIFICATION_STATUSES (tests/identity/test_graphql.py)
    UNVERIFIED = "unverified"
    VERIFIED = "verified"


@strawberry.type
class Verification:
    status: VerificationStatus
    full_name: str | None = strawberry.field(description="As the registry returned it.")
    national_id_last4: str | None
    verified_at: datetime | None


@strawberry_django.type(get_user_model(), name="User")
class UserType:
    id: strawberry.ID
    username: str
    email: str
    is_staff: bool

    @strawberry.field
    def verification(self, root: strawberry.Parent[Any]) -> Verification:
        shown = VerificationSerializer.of(verification_of(root))
        return Verification(**{**shown, "status": VerificationStatus(shown["status"])})


@strawberry.type
class IdentityQuery:
    @strawberry.field(description="The account behind the token: not_authenticated without one.")
    def me(self, info: Info) -> UserType | None:
        user = info.context.user()
        if not user.is_authenticated:
            raise NotAuthenticated()
        return user  # type: ignore[no-any-return]
