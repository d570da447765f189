"""Casting votes over the HTTP API (polls.services.vote_cast)."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from polls.models import IdempotencyKey, Poll, Vote
from tests.support.votes import options_of

pytestmark = pytest.mark.django_db


def vote(client, poll, label="Ada", *, option_id=None, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(
        f"/api/v1/polls/{poll.pk}/votes",
        {"option_id": option_id or options_of(poll)[label]},
        format="json",
        **headers,
    )


def assert_code(response, status, code):
    assert response.status_code == status, response.json()
    assert response.json()["code"] == code


def test_it_takes_alices_vote_and_gives_a_receipt(make_poll, make_voter):
    poll = make_poll()
    response = vote(make_voter("alice"), poll)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"receipt", "poll_id", "cast_at"}
    assert body["poll_id"] == poll.pk
    assert re.fullmatch(r"[A-Za-z0-9_-]{24}", body["receipt"])  # 144 random bits
    assert Vote.objects.get(receipt=body["receipt"]).option_id == options_of(poll)["Ada"]


@pytest.mark.django_db(transaction=True)  # no test transaction: no SAVEPOINTs to count
def test_it_casts_a_vote_in_one_statement(make_poll, make_voter, django_assert_num_queries):
    """The token's check, the INSERT and the Idempotency-Key: one statement, one round
    trip (and the connection's health check asks the socket, not the server)."""
    poll = make_poll()
    ada = options_of(poll)["Ada"]
    alice, bob = make_voter("alice"), make_voter("bob")
    with django_assert_num_queries(1):
        assert vote(alice, poll, option_id=ada).status_code == 201
    with django_assert_num_queries(1):
        assert vote(bob, poll, option_id=ada, key="bob-1").status_code == 201
    assert IdempotencyKey.objects.filter(user=bob.user, key="bob-1").exists()


def test_it_refuses_a_dead_token_before_anything_else(make_poll, make_voter):
    """The vote checks its token inside its own statement; it must refuse what every
    other endpoint refuses, with 401 first: before a bad body or a closed poll."""
    poll = make_poll()
    alice, bob, carol, dave = (make_voter(name) for name in ("alice", "bob", "carol", "dave"))
    AuthToken.objects.filter(user=alice.user).update(expiry=timezone.now())  # expired
    assert bob.post("/api/v1/auth/logout").status_code == 204  # revoked
    get_user_model().objects.filter(pk=carol.user.pk).update(is_active=False)
    tampered = APIClient()
    tampered.credentials(HTTP_AUTHORIZATION=f"Bearer {dave.token[:-4]}0000")
    for client in (alice, bob, carol, tampered):
        assert_code(vote(client, poll), 401, "authentication_failed")
        assert_code(vote(client, poll, option_id="x"), 401, "authentication_failed")
        malformed = client.post(
            f"/api/v1/polls/{poll.pk}/votes", "{", content_type="application/json"
        )
        assert_code(malformed, 401, "authentication_failed")
    assert_code(vote(dave, poll, option_id="x"), 400, "validation_error")
    assert not Vote.objects.exists()


def test_it_refuses_anonymous_and_unverified_voters(api, auth_api, make_poll):
    poll = make_poll()
    assert vote(api, poll).status_code == 401
    assert_code(vote(auth_api("bob"), poll), 403, "not_verified")
    assert not Vote.objects.exists()


def test_it_refuses_an_option_of_another_poll(make_poll, make_voter):
    poll, other = make_poll(), make_poll(labels=("X", "Y"))
    assert_code(
        vote(make_voter("alice"), poll, option_id=options_of(other)["X"]), 400, "invalid_option"
    )


@pytest.mark.parametrize(
    "body", [{}, {"option_id": "ada"}, {"option_id": -1}, {"option_id": 2**64}]
)
def test_it_refuses_a_malformed_vote(make_poll, make_voter, body):
    poll = make_poll()
    response = make_voter("alice").post(f"/api/v1/polls/{poll.pk}/votes", body, format="json")
    assert_code(response, 400, "validation_error")


def test_it_answers_404_for_unknown_polls_and_drafts(make_poll, make_voter, auth_api):
    draft = make_poll(publish=False)
    alice = make_voter("alice")
    assert_code(vote(alice, draft), 404, "not_found")
    response = alice.post("/api/v1/polls/987654321/votes", {"option_id": 1}, format="json")
    assert_code(response, 404, "not_found")


def test_it_tells_staff_that_a_draft_is_not_open(make_poll, make_voter, staff):
    from identity.models import VoterIdentity

    draft = make_poll(publish=False)
    sam = make_voter("sam2")
    sam.user.is_staff = True
    sam.user.save()
    assert VoterIdentity.objects.filter(user=sam.user).exists()
    assert_code(vote(sam, draft), 409, "poll_not_open")


@pytest.mark.parametrize("when", ["scheduled", "closed", "closed_early"])
def test_it_refuses_votes_outside_the_polls_window(make_poll, make_voter, when):
    if when == "scheduled":
        poll = make_poll(opens_in=timedelta(minutes=5))
    else:
        poll = make_poll()
        field = "closes_at" if when == "closed" else "closed_at"
        # Well in the past: inside the test's transaction, the database's now() is the
        # moment the test began.
        Poll.objects.filter(pk=poll.pk).update(**{field: timezone.now() - timedelta(seconds=30)})
    assert_code(vote(make_voter("alice"), poll), 409, "poll_not_open")


def test_it_refuses_a_second_vote_from_alices_national_id_on_any_account(make_poll, make_voter):
    poll = make_poll()
    alice = make_voter("alice")
    assert vote(alice, poll).status_code == 201
    assert_code(vote(alice, poll, "Grace"), 409, "already_voted")
    # Mallory somehow holds a second account for Alice's national ID (same voter key).
    from identity.models import VoterIdentity

    key = bytes(VoterIdentity.objects.get(user=alice.user).voter_key)
    VoterIdentity.objects.filter(user=alice.user).delete()
    assert_code(vote(make_voter("mallory", voter_key=key), poll, "Grace"), 409, "already_voted")
    assert Vote.objects.count() == 1


def test_it_replays_a_retry_with_the_same_idempotency_key(make_poll, make_voter):
    poll = make_poll()
    alice = make_voter("alice")
    first = vote(alice, poll, key="k-123")
    again = vote(alice, poll, key="k-123")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert Vote.objects.count() == 1


def test_it_refuses_a_reused_idempotency_key_with_another_body(make_poll, make_voter):
    poll, other = make_poll(), make_poll(labels=("X", "Y"))
    alice = make_voter("alice")
    assert vote(alice, poll, key="k-1").status_code == 201
    assert_code(vote(alice, poll, "Grace", key="k-1"), 422, "idempotency_key_reused")
    assert_code(vote(alice, other, "X", key="k-1"), 422, "idempotency_key_reused")
    assert Vote.objects.count() == 1  # the vote in `other` was rolled back with the key


def test_it_replays_a_retry_that_arrives_after_the_poll_closed(make_poll, make_voter):
    """The 201 was lost, the client retries, and the poll has closed meanwhile: the
    retry gets its receipt back, not poll_not_open."""
    poll = make_poll()
    alice = make_voter("alice")
    first = vote(alice, poll, key="lost-201")
    assert first.status_code == 201
    Poll.objects.filter(pk=poll.pk).update(closed_at=timezone.now() - timedelta(seconds=30))
    retry = vote(alice, poll, key="lost-201")
    assert retry.status_code == 201 and retry.json() == first.json()
    assert_code(vote(alice, poll, "Grace", key="lost-201"), 422, "idempotency_key_reused")
    assert_code(vote(make_voter("bob"), poll, key="new"), 409, "poll_not_open")


def test_it_scopes_idempotency_keys_to_their_user(make_poll, make_voter):
    poll = make_poll()
    assert vote(make_voter("alice"), poll, key="same").status_code == 201
    assert vote(make_voter("bob"), poll, "Grace", key="same").status_code == 201


def test_it_still_refuses_an_earlier_vote_made_without_the_key(make_poll, make_voter):
    poll = make_poll()
    alice = make_voter("alice")
    vote(alice, poll)
    assert_code(vote(alice, poll, key="later"), 409, "already_voted")


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "ключ"])
def test_it_refuses_a_malformed_idempotency_key(make_poll, make_voter, key):
    assert_code(vote(make_voter("alice"), make_poll(), key=key), 400, "validation_error")


def test_it_shows_alice_her_vote_and_anyone_the_receipt(make_poll, make_voter, auth_api, api):
    poll = make_poll()
    alice = make_voter("alice")
    assert_code(alice.get(f"/api/v1/polls/{poll.pk}/votes/me"), 404, "not_voted")
    receipt = vote(alice, poll).json()
    mine = alice.get(f"/api/v1/polls/{poll.pk}/votes/me").json()
    assert mine == {"receipt": receipt["receipt"], "cast_at": receipt["cast_at"]}
    assert_code(auth_api("bob").get(f"/api/v1/polls/{poll.pk}/votes/me"), 404, "not_voted")
    check = api.get(f"/api/v1/receipts/{receipt['receipt']}")
    assert check.json() == {"poll_id": poll.pk, "counted": True}  # no time: docs/privacy.md
    assert api.get("/api/v1/receipts/not-a-real-receipt").status_code == 404


def test_it_counts_votes_in_the_poll(make_poll, make_voter, api):
    poll = make_poll()
    for name, label in [("a", "Ada"), ("b", "Grace"), ("c", "Ada")]:
        vote(make_voter(name), poll, label)
    assert api.get(f"/api/v1/polls/{poll.pk}").json()["total_votes"] == 3


def test_a_vote_that_reaches_the_database_after_its_deadline_is_refused_and_not_counted(
    make_poll, make_voter, settings
):
    # As a vote the server takes up after a freeze or a long lock: its deadline (sent
    # with it, checked by the database after the inserts) has passed.
    settings.DB_VOTE_DEADLINE_SECONDS = -1
    poll = make_poll()
    response = vote(make_voter("alice"), poll, key="late-vote-1")
    assert_code(response, 503, "database_unavailable")
    assert response["Retry-After"]
    assert not Vote.objects.filter(poll=poll).exists()
    assert not IdempotencyKey.objects.filter(key="late-vote-1").exists()
    settings.DB_VOTE_DEADLINE_SECONDS = 5
    assert vote(make_voter("bob"), poll).status_code == 201


def test_every_app_connection_starts_with_the_server_limits():
    from django.db import connection

    fresh = connection.copy()  # this process's own ran migrate, which raised its limits
    try:
        with fresh.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('statement_timeout'), current_setting('lock_timeout'),"
                " current_setting('idle_in_transaction_session_timeout'),"
                " current_setting('transaction_timeout')"
            )
            assert cursor.fetchone() == ("5s", "2s", "10s", "10s")
    finally:
        fresh.close()
