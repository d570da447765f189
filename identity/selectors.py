"""Reads for accounts and verification."""

from typing import TYPE_CHECKING

from identity.models import VoterIdentity

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def verification_of(user: "User") -> VoterIdentity | None:
    # BearerTokenAuthentication already loaded it with the user; no query then.
    try:
        return user.voter_identity
    except VoterIdentity.DoesNotExist:
        return None
