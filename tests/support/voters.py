"""Verified voters, set up straight in the database as identity_verify leaves them (a
verified identity with a national ID of their own), without calling the registry."""

import secrets

from django.contrib.auth import get_user_model
from django.utils import timezone
from knox.models import AuthToken

from identity.models import VoterIdentity


def verify(users, *, voter_key=None):
    """Give each user a verified identity: their own random voter key (one national ID
    each), unless `voter_key` says whose national ID it is."""
    VoterIdentity.objects.bulk_create(
        VoterIdentity(
            user=user,
            voter_key=voter_key or secrets.token_bytes(32),
            key_version=1,
            national_id_last4="0000",
            full_name=user.username.title(),
            verified_at=timezone.now(),
        )
        for user in users
    )


def verified_tokens(count):
    """`count` verified voters, each with their own national ID, and their tokens."""
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"voter{i}") for i in range(count)
    )
    verify(users)
    return [AuthToken.objects.create(user)[1] for user in users]
