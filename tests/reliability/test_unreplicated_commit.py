"""A commit that no synchronous standby has confirmed is never answered 201.

With synchronous replication (make cluster: Patroni's synchronous_mode) a commit waits
for the synchronous standby's flush before PostgreSQL answers it; until then other
sessions do not see it. PostgreSQL's statement_timeout does not bound that wait (it is
switched off before the commit), so a standby that hangs without its connection failing
holds the vote:
- the API's watchdog gives up after DB_SOCKET_TIMEOUT and answers 504 outcome_unknown;
  the vote stays waiting, unseen, until a standby confirms it;
- if the wait is cancelled (pg_cancel_backend, as a DBA or a tool would), PostgreSQL
  reports the commit made, on the primary alone, with a warning: the API reads it and
  answers 504 outcome_unknown too, never 201 (pollsite/db_backend).
Either way the retry with the Idempotency-Key replays the vote once a standby holds it:
one ballot, the same receipt, and the results count it (the cache is told, as after a
201). A retry while the standby still has not confirmed it is not answered 201 either:
the replay waits for the standby like a commit (polls/services.py, WAIT_FOR_STANDBY).

A standby that never answers is what `synchronous_standby_names = 'ghost'` gives on a
single server: every commit waits for a standby that does not exist."""

import os
import threading
import time
import uuid

import httpx
import pytest

from tests.support import stack

pytestmark = pytest.mark.reliability


def vote(base, token, poll, key):
    return httpx.post(
        f"{base}/api/v1/polls/{poll['id']}/votes",
        json={"option_id": poll["options"][0]["id"]},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
        timeout=30,
    )


def sql(postgres, query, params=()):
    conn = postgres.connect()  # autocommit: ALTER SYSTEM cannot run in a transaction
    try:
        with conn.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall() if cursor.description else None
    finally:
        conn.close()


def synchronous_standby(postgres, name):
    """Name the synchronous standby (None: none, as Patroni does while it has none)."""
    if name:
        sql(postgres, "ALTER SYSTEM SET synchronous_standby_names = %s", [name])
    else:
        sql(postgres, "ALTER SYSTEM RESET synchronous_standby_names")
    sql(postgres, "SELECT pg_reload_conf()")


def receipts(postgres, poll):
    return [
        r
        for (r,) in sql(postgres, "SELECT receipt FROM polls_vote WHERE poll_id = %s", [poll["id"]])
    ]


def total_votes(base, poll):
    response = httpx.get(f"{base}/api/v1/polls/{poll['id']}/results", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["total_votes"]


def waiting_for_standby(postgres):
    return [
        pid
        for (pid,) in sql(postgres, "SELECT pid FROM pg_stat_activity WHERE wait_event = 'SyncRep'")
    ]


@pytest.fixture
def single_server_with_a_ghost_standby(scratch):
    postgres = stack.Postgres(scratch).start()
    env = {**os.environ, "DATABASE_URL": postgres.url, "DB_SOCKET_TIMEOUT": "8"}
    postgres.migrate(env)
    staff, alice, bob, carol = stack.seed(env, 3)
    server = stack.AppServer(env, log=scratch / "app.log", workers=1)
    try:
        poll = stack.open_poll(server.url, staff, "Unreplicated")
        assert vote(server.url, bob, poll, str(uuid.uuid4())).status_code == 201  # control
        assert total_votes(server.url, poll) == 1  # the results cached with bob's vote
        synchronous_standby(postgres, "ghost")
        yield postgres, server, poll, (alice, carol)
    finally:
        server.stop()
        postgres.stop()


@pytest.mark.parametrize("how", ["hung", "cancelled"])
def test_a_commit_no_standby_confirmed_answers_504_and_its_retry_replays_it(
    single_server_with_a_ghost_standby, figure, how
):
    postgres, server, poll, (voter, _) = single_server_with_a_ghost_standby
    key = str(uuid.uuid4())
    answers = {}
    voting = threading.Thread(
        target=lambda: answers.update(first=vote(server.url, voter, poll, key))
    )
    started = time.monotonic()
    voting.start()
    while not waiting_for_standby(postgres):  # the vote's commit waits for the standby
        assert time.monotonic() - started < 5, "the vote never waited for the standby"
        time.sleep(0.05)
    seen_while_waiting = len(receipts(postgres, poll))
    if how == "cancelled":
        sql(
            postgres,
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event = 'SyncRep'",
        )
    voting.join()
    first, answered_after = answers["first"], time.monotonic() - started
    seen_after_answer = len(receipts(postgres, poll))
    retried_while_unconfirmed = vote(server.url, voter, poll, key)  # the standby still away
    synchronous_standby(postgres, None)  # a standby confirms (Patroni names another)
    retried = vote(server.url, voter, poll, key)
    final = receipts(postgres, poll)
    counted = total_votes(server.url, poll)
    figure(
        f"unconfirmed_commit_{how}",
        first=first.status_code,
        code=first.json().get("code"),
        answered_after_s=round(answered_after, 2),
        ballots_while_waiting=seen_while_waiting,
        ballots_after_answer=seen_after_answer,
        retry_while_unconfirmed=retried_while_unconfirmed.status_code,
        retry_code=retried_while_unconfirmed.json().get("code"),
        retry=retried.status_code,
        ballots_at_end=len(final),
        results_total_votes=counted,
    )
    assert first.status_code == 504, first.text
    assert first.json()["code"] == "outcome_unknown" and first.headers.get("Retry-After")
    assert seen_while_waiting == 1  # bob's: a commit waiting for its standby is unseen
    # Hung: still waiting, unseen. Cancelled: committed on the primary alone, seen.
    assert seen_after_answer == (1 if how == "hung" else 2)
    # Never 201 before a standby holds the vote. Cancelled: the replay's own wait for
    # the standby is given up by the watchdog (504). Hung: the retry waits behind the
    # first commit, which still holds its ballot's unique key, past the lock timeout (503:
    # this request did nothing; the first one's outcome is still unknown).
    assert retried_while_unconfirmed.status_code == (504 if how == "cancelled" else 503)
    assert retried.status_code == 201, retried.text
    assert retried.json()["receipt"] in final and len(final) == 2  # replayed, counted once
    assert counted == 2  # bob's and the replayed one: the cache was told of it
