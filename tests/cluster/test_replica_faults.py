"""The replica that serves reads killed (its Patroni and PostgreSQL), or paused (SIGSTOP:
it keeps its connections and answers nothing), under readers of what it serves (receipt
checks and a poll's events): a read the replica
cannot answer is answered from the primary in the same request, so readers see 200s,
never a 503, and the vote they check is always there."""

import threading
import time
from collections import Counter

import httpx
import pytest

from tests.cluster.conftest import open_poll
from tests.cluster.test_read_your_writes import bearer

pytestmark = [pytest.mark.cluster]


def read_while(cluster, paths, stop, seen, slowest):
    """Anonymous reads (never pinned to the primary) until `stop`."""
    with httpx.Client(base_url=cluster.url, timeout=30) as client:
        while not stop.is_set():
            for path in paths:
                started = time.monotonic()
                answer = client.get(path)
                slowest.append(time.monotonic() - started)
                body = answer.json()
                seen[
                    (answer.status_code, body.get("code") if answer.status_code >= 400 else None)
                ] += 1


@pytest.mark.parametrize("fault", ["killed", "paused"])
def test_readers_of_the_replica_get_their_answers_when_it_fails(cluster, people, figure, fault):
    staff, [voter] = people.staff, people.take(1)
    poll_id, options = open_poll(cluster, staff, f"Replica {fault}")
    with httpx.Client(base_url=cluster.url, timeout=10) as client:
        vote = client.post(
            f"/api/v1/polls/{poll_id}/votes",
            json={"option_id": options["Ada"]},
            headers=bearer(voter),
        )
    assert vote.status_code == 201, vote.text
    paths = [f"/api/v1/receipts/{vote.json()['receipt']}", f"/api/v1/polls/{poll_id}/events"]
    cluster.wait_replica_serving()
    stop, seen, slowest = threading.Event(), Counter(), []
    readers = [
        threading.Thread(target=read_while, args=(cluster, paths, stop, seen, slowest))
        for _ in range(6)
    ]
    for reader in readers:
        reader.start()
    try:
        time.sleep(1)
        replica = cluster.replica_node()
        with cluster.unsupervised():
            if fault == "killed":
                cluster.kill_node(replica)
                time.sleep(5)
            else:
                with cluster.frozen_node(replica):
                    time.sleep(5)
        cluster.wait_restarted(replica)
        cluster.wait_members()
        time.sleep(1)
    finally:
        stop.set()
        for reader in readers:
            reader.join(60)
    figure(
        f"cluster_replica_{fault}",
        reads=sum(seen.values()),
        answers=dict(Counter(f"{s}:{c}" for (s, c) in seen.elements())),
        slowest_s=round(max(slowest), 2),
    )
    assert set(seen) == {(200, None)}, seen
