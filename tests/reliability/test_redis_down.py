"""Redis stopped under voting: votes still succeed and results stay exact (cacheops
degrades to the database)."""

import os
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support import stack
from tests.support.stack import app_env
from tests.support.voters import verified_tokens
from tests.support.votes import options_of, tally_audit

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]


def vote_all(base, poll_id, option_id, tokens):
    def one(token):
        return httpx.post(
            f"{base}/api/v1/polls/{poll_id}/votes",
            json={"option_id": option_id},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ).status_code

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, tokens))


def results(base, poll_id):
    response = httpx.get(f"{base}/api/v1/polls/{poll_id}/results", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["total_votes"]


def test_it_keeps_voting_and_counting_with_redis_stopped(make_poll, scratch, figure):
    redis = stack.Redis(scratch).start()
    server = stack.AppServer(app_env(REDIS_URL=redis.url), log=scratch / "app.log")
    try:
        poll = make_poll()
        option = options_of(poll)["Ada"]
        tokens = verified_tokens(200)
        before = vote_all(server.url, poll.pk, option, tokens[:100])
        assert results(server.url, poll.pk) == 100
        redis.stop()
        during = vote_all(server.url, poll.pk, option, tokens[100:])
        reads = [results(server.url, poll.pk) for _ in range(5)]
        ready = httpx.get(f"{server.url}/readyz", timeout=10).json()
    finally:
        server.stop()
        redis.stop()
    counted, ballots, drift = tally_audit()
    figure(
        "redis_stopped",
        votes_before=before.count(201),
        votes_while_down=during.count(201),
        vote_errors=len(before) + len(during) - (before + during).count(201),
        results_read_while_down=reads[-1],
        stale_reads=sum(1 for r in reads if r != 200),
        rows=ballots,
        drift=drift,
    )
    assert before.count(201) == 100 and during.count(201) == 100, (before, during)
    assert reads == [200] * 5
    assert ready["failing"] == ["cache"]
    assert (counted, ballots, drift) == (200, 200, 0)
    assert os.path.exists(scratch / "app.log")
