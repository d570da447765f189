"""The authorization matrix: every staff route as Bob (not staff), and every way a token
can be bad."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

pytestmark = [pytest.mark.reliability, pytest.mark.django_db]

STAFF_ROUTES = [
    ("post", "poll-list", False),
    ("patch", "poll-detail", True),
    ("delete", "poll-detail", True),
    ("post", "option-create", True),
    ("post", "poll-publish", True),
    ("post", "poll-close", True),
]
TOKEN_ROUTES = [
    ("get", "auth-me", False),
    ("post", "auth-logout", False),
    ("post", "identity-verify", False),
    ("post", "vote-cast", True),
    ("get", "vote-mine", True),
    ("post", "poll-list", False),
]


def url(name, poll, with_poll):
    return reverse(name, kwargs={"poll_id": poll.pk}) if with_poll else reverse(name)


def bearer(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_the_authorization_matrix(auth_api, make_poll, make_voter, figure):
    poll = make_poll(publish=False)
    bob = make_voter("bob")
    checked = {"403 not staff": 0, "401 bad token": 0, "401 token in query": 0}
    for method, name, with_poll in STAFF_ROUTES:
        response = getattr(bob, method)(url(name, poll, with_poll), {}, format="json")
        assert response.status_code in (403, 404), (method, name, response.status_code)
        # A draft is invisible to Bob (404); an open poll is forbidden (403).
        checked["403 not staff"] += 1
    open_poll = make_poll()
    for method, name, with_poll in STAFF_ROUTES:
        response = getattr(bob, method)(url(name, open_poll, with_poll), {}, format="json")
        assert response.status_code == 403, (method, name, response.status_code)
        assert response.json()["code"] == "permission_denied"

    token = bob.token
    expired = make_voter("eve").token
    AuthToken.objects.filter(user__username="eve").update(
        expiry=timezone.now() - timedelta(seconds=1)
    )
    revoked = make_voter("rev").token
    assert bearer(revoked).post(reverse("auth-logout")).status_code == 204
    bad_tokens = {
        "tampered": token[:-1] + ("0" if token[-1] != "0" else "1"),
        "truncated": token[:15],
        "extended": token + "00",
        "expired": expired,
        "revoked": revoked,
        "garbage": "%%%not-a-token%%%",
        "empty": "",
    }
    for method, name, with_poll in TOKEN_ROUTES:
        path = url(name, open_poll, with_poll)
        for kind, bad in bad_tokens.items():
            response = getattr(bearer(bad), method)(path, {}, format="json")
            assert response.status_code == 401, (kind, method, name, response.status_code)
            checked["401 bad token"] += 1
        for param in ("token", "access_token", "auth", "Authorization"):
            response = getattr(APIClient(), method)(f"{path}?{param}={token}", {}, format="json")
            assert response.status_code == 401, (param, name)
            checked["401 token in query"] += 1
    figure("authorization_matrix", **{k.replace(" ", "_"): v for k, v in checked.items()})
