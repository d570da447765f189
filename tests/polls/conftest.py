import secrets
from datetime import timedelta

import pytest
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from identity.models import VoterIdentity
from polls import services


@pytest.fixture
def staff(make_user):
    return make_user("sam", staff=True)


@pytest.fixture
def make_poll(staff):
    """make_poll() is an open poll with options Ada and Grace; keywords as poll_create's."""

    def make(*, labels=("Ada", "Grace"), opens_in=None, closes_in=timedelta(days=1), **kw):
        now = timezone.now()
        return services.poll_create(
            created_by=staff,
            title=kw.pop("title", "Board election"),
            opens_at=now + opens_in if opens_in is not None else now - timedelta(minutes=1),
            closes_at=now + closes_in,
            options=[{"label": label} for label in labels],
            **kw,
        )

    return make


@pytest.fixture
def make_voter(make_user):
    """A verified user with their own national ID (a random voter key) and a token."""

    def make(username, *, voter_key=None):
        user = make_user(username)
        VoterIdentity.objects.create(
            user=user,
            voter_key=voter_key or secrets.token_bytes(32),
            key_version=1,
            national_id_last4="0000",
            full_name=username.title(),
            verified_at=timezone.now(),
        )
        _, token = AuthToken.objects.create(user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        client.user, client.token = user, token
        return client

    return make


def options_of(poll):
    return {o.label: o.id for o in poll.options.all()}
