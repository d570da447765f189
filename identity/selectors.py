"""Reads for accounts and verification."""

from identity.models import VoterIdentity


def verification_of(user) -> VoterIdentity | None:
    # BearerTokenAuthentication already loaded it with the user; no query then.
    try:
        return user.voter_identity
    except VoterIdentity.DoesNotExist:
        return None
