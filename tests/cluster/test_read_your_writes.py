"""Read-your-writes with the replica's replay paused (pg_wal_replay_pause()): the voter
finds its receipt at once (it is pinned to the primary after its write), another client
finds it within the documented bound (REPLICA_MAX_LAG_SECONDS and a check interval),
results are never read from the replica (no cache entry filled from it: results of
everyone show the vote at once), and a closed poll's ledger is complete at once."""

import time

import httpx
import pytest

from tests.cluster.conftest import open_poll

pytestmark = [pytest.mark.cluster]
BOUND = 2.0 + 0.2  # REPLICA_MAX_LAG_SECONDS + REPLICA_CHECK_SECONDS (pollsite/settings.py)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_the_voter_reads_its_vote_at_once_and_others_within_the_bound(cluster, people, figure):
    staff, [voter] = people.staff, people.take(1)
    poll_id, options = open_poll(cluster, staff, "Read your writes")
    client = httpx.Client(base_url=cluster.url, timeout=10)
    cluster.wait_replica_serving()
    # Maintenance mode: Patroni would resume the replay at its next loop.
    with cluster.maintenance():
        cluster.replica_sql("SELECT pg_wal_replay_pause()")
        try:
            # Wait until the replica is stale enough that the vote cannot be on it.
            time.sleep(0.3)
            vote = client.post(
                f"/api/v1/polls/{poll_id}/votes",
                json={"option_id": options["Ada"]},
                headers=bearer(voter),
            )
            assert vote.status_code == 201, vote.text
            receipt = vote.json()["receipt"]
            voted = time.monotonic()
            # The voter: at once, from the primary.
            mine = client.get(f"/api/v1/receipts/{receipt}", headers=bearer(voter))
            assert mine.status_code == 200, mine.text
            # Results: never from the replica, for anyone (and never cached from it).
            anyone = client.get(f"/api/v1/polls/{poll_id}/results")
            assert anyone.json()["total_votes"] == 1
            # Another client: from the replica (paused, so not there yet) until the replica
            # is older than the bound; then from the primary.
            statuses = []
            while True:
                other = client.get(f"/api/v1/receipts/{receipt}")
                statuses.append(other.status_code)
                if other.status_code == 200:
                    break
                assert other.status_code == 404, other.text
                assert time.monotonic() - voted < BOUND + 1.0, statuses
                time.sleep(0.05)
            seen_after = time.monotonic() - voted
            paused = cluster.replica_sql("SELECT pg_is_wal_replay_paused()")[0][0]
            # Past the bound every API process finds the replica too stale to serve (the
            # one that answered the 200 above may have found it a little sooner).
            time.sleep(max(0.0, BOUND + 0.3 - (time.monotonic() - voted)))
            readyz = [client.get("/readyz").json()["replica"] for _ in range(6)]
        finally:
            cluster.replica_sql("SELECT pg_wal_replay_resume()")
    figure(
        "read_your_writes",
        voter_saw_it="at once",
        other_saw_it_after_s=round(seen_after, 2),
        other_reads_before=statuses.count(404),
        bound_s=BOUND,
        replica_state_while_paused=readyz[0]["state"],
    )
    assert paused
    # The other client did read the replica (it was not shown the vote at first), and
    # was sent to the primary within the bound.
    assert statuses[0] == 404, statuses
    assert seen_after <= BOUND + 0.5
    assert [r["serving_reads"] for r in readyz] == [False] * len(readyz), readyz
    assert {r["state"] for r in readyz} == {"paused"}, readyz


def test_a_closed_polls_ledger_is_complete_from_the_first_read(cluster, people):
    staff, voters = people.staff, people.take(3)
    poll_id, options = open_poll(cluster, staff, "Ledger")
    client = httpx.Client(base_url=cluster.url, timeout=10)
    for token in voters:
        vote = client.post(
            f"/api/v1/polls/{poll_id}/votes",
            json={"option_id": options["Grace"]},
            headers=bearer(token),
        )
        assert vote.status_code == 201
    cluster.wait_replica_serving()
    cluster.replica_sql("SELECT pg_wal_replay_pause()")
    try:
        closed = client.post(f"/api/v1/polls/{poll_id}/close", headers=bearer(staff))
        assert closed.status_code == 200, closed.text
        # Anyone, at once: the replica is not known to hold the whole ledger (a closed
        # poll's is final only RESULTS_FINAL_DELAY_SECONDS after the close), so the
        # primary answers.
        ledger = client.get(f"/api/v1/polls/{poll_id}/receipts")
        assert ledger.status_code == 200, ledger.text
        assert ledger.json()["count"] == 3
        events = [
            e["type"]
            for e in client.get(f"/api/v1/polls/{poll_id}/events", headers=bearer(staff)).json()
        ]
        assert "poll.closed" in events  # the staff who closed it reads its write
    finally:
        cluster.replica_sql("SELECT pg_wal_replay_resume()")
