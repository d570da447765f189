"""Reads for accounts and verification."""

from identity.models import VoterIdentity


def verification_of(user) -> VoterIdentity | None:
    return VoterIdentity.objects.filter(user=user).first()
