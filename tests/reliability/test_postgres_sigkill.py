"""SIGKILL of PostgreSQL under voting load: the postmaster is killed -9 while threads vote
through a live app server, then restarted on the same data folder. Every acknowledged
vote survives, none is duplicated, the counters agree with a recount (for ranked ballots,
the ballot and ranking counters too), and the outage answers 503."""

import os
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support import stack

pytestmark = pytest.mark.reliability
VOTERS = 300


def unhandled_errors(log_file):
    log = log_file.read_text()
    return log[log.find("unhandled error") :][:5000] if "unhandled error" in log else ""


def server_error(status):
    """Any 5xx but the contract's two retry answers, 503 database_unavailable and 504
    outcome_unknown (each checked for its code where it is met)."""
    return isinstance(status, int) and status >= 500 and status not in (503, 504)


def ballot_of(kind, options, i):
    """Voter i's ballot: single ballots alternate; ranked ones rank two or three options."""
    if kind == "single":
        return {"option_id": options[i % 2]["id"]}
    ranking = [options[(i + k) % 3]["id"] for k in range(3)]
    return {"ranking": ranking[: 2 + i % 2]}


@pytest.mark.parametrize("kind", ["single", "ranked"])
def test_it_loses_no_acknowledged_vote_to_a_sigkill_of_postgres(scratch, figure, kind):
    postgres = stack.Postgres(scratch).start()
    env = {**os.environ, "DATABASE_URL": postgres.url, "DB_CONNECT_TIMEOUT": "2"}
    postgres.migrate(env)
    staff, *voters = stack.seed(env, VOTERS)
    server = stack.AppServer(env, log=scratch / "app.log", workers=2)
    try:
        labels = ("Ada", "Grace", "Hedy")
        poll = stack.open_poll(server.url, staff, "Crash test", labels=labels, ballot_kind=kind)
        statuses, receipts, outage = Counter(), {}, Counter()

        restarted, killed = threading.Event(), threading.Event()

        def vote(i):
            token, key = voters[i], uuid.uuid4().hex
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                try:
                    response = httpx.post(
                        f"{server.url}/api/v1/polls/{poll['id']}/votes",
                        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
                        json=ballot_of(kind, poll["options"], i),
                        timeout=30,
                    )
                except httpx.TransportError:
                    statuses["transport_error"] += 1
                    continue
                statuses[response.status_code] += 1
                if killed.is_set() and not restarted.is_set():
                    outage[response.status_code] += 1
                if response.status_code == 201:
                    receipts[i] = response.json()["receipt"]
                    return
                # 503: not counted; 504: a vote in flight as the server died, which may
                # have counted. Both say retry (the same Idempotency-Key never counts twice).
                told = (response.status_code, response.json().get("code"))
                assert told in {(503, "database_unavailable"), (504, "outcome_unknown")}, (
                    response.text + unhandled_errors(scratch / "app.log")
                )
                assert int(response.headers["Retry-After"]) > 0
                time.sleep(0.2)

        def chaos():
            while len(receipts) < VOTERS // 3:
                time.sleep(0.01)
            postgres.kill()
            killed.set()
            time.sleep(2)  # an outage long enough for many requests to meet it
            postgres.start()
            restarted.set()

        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            voting = [pool.submit(vote, i) for i in range(VOTERS)]
            # From this thread: a server started by a pool thread would die with it
            # (devstack ties children to their parent thread with PR_SET_PDEATHSIG).
            chaos()
            for future in voting:
                future.result()
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    with postgres.connect() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT receipt FROM polls_vote WHERE poll_id = %s", [poll["id"]])
        rows = [r[0] for r in cursor.fetchall()]
        cursor.execute("SELECT COALESCE(SUM(ABS(drift)), 0) FROM tally_audit")
        drift = cursor.fetchone()[0]
        cursor.execute(
            "SELECT COALESCE(SUM(ABS(drift) + rankings_drifted), 0) FROM ballot_tally_audit"
        )
        drift += cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM (SELECT voter_key FROM polls_vote GROUP BY poll_id, voter_key"
            " HAVING count(*) > 1) d"
        )
        duplicates = cursor.fetchone()[0]
    postgres.stop()
    log = (scratch / "app.log").read_text()
    figure(
        f"postgres_sigkill_{kind}",
        voters=VOTERS,
        seconds=f"{elapsed:.1f}",
        acknowledged=len(receipts),
        rows=len(rows),
        lost=len(set(receipts.values()) - set(rows)),
        duplicates=duplicates,
        drift=drift,
        answers=dict(sorted(statuses.items(), key=str)),
        during_outage=dict(sorted(outage.items(), key=str)),
        server_errors=sum(n for s, n in statuses.items() if server_error(s)),
    )
    assert outage[503] > 0, "the kill should have met some requests"
    assert set(receipts.values()) <= set(rows)
    assert len(rows) == len(set(rows)) == len(receipts) == VOTERS
    assert duplicates == 0 and drift == 0
    assert not [s for s in statuses if server_error(s)]
    # (polls.notifier logs its failures during the outage; requests must not.)
    assert "status=500" not in log, unhandled_errors(scratch / "app.log")
