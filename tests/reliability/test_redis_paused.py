"""Redis paused (SIGSTOP) for 10 s under voting and reading, then resumed: it comes back
with its data and with the writes that were sent to it meanwhile, in whatever order. The
voting stops as Redis resumes, so no later vote repairs what the pause broke (a poll
that closes during the pause is the same case); the reads go on. No vote fails, no read
is staler than the contract's bound, and the results end equal to the rows. (A killed
Redis comes back empty, which hides the stale entries this one keeps:
tests/reliability/test_redis_down.py; the other shapes of a cache fault:
tests/reliability/test_cache_faults.py.)"""

import time

import httpx
import pytest

from tests.support import stack
from tests.support.freshness import BOUND_S, Load
from tests.support.stack import app_env
from tests.support.voters import verified_tokens
from tests.support.votes import options_of, tally_audit

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]
PAUSE_S = 10


def test_it_serves_no_read_staler_than_the_bound_through_a_redis_pause(make_poll, scratch, figure):
    redis = stack.Redis(scratch).start()
    env = app_env(REDIS_URL=redis.url)
    server = stack.AppServer(env, log=scratch / "app.log", workers=2)
    reconciler = stack.manage_child(
        "reconciler", ["reconcile_results"], env=env, log=scratch / "reconciler.log"
    )
    poll = make_poll()
    load = Load(
        vote_bases=[server.url],
        read_bases=[server.url],
        poll_id=poll.pk,
        option_id=options_of(poll)["Ada"],
        tokens=verified_tokens(1500),
    )
    try:
        with load:
            time.sleep(3)
            redis.pause()
            time.sleep(PAUSE_S)
            load.stop_voting()
            redis.resume()
            resumed = time.monotonic()
            time.sleep(5)
        final = httpx.get(f"{server.url}/api/v1/polls/{poll.pk}/results", timeout=30).json()
    finally:
        redis.resume()
        reconciler.stop()
        server.stop()
        redis.stop()
    counted, ballots, drift = tally_audit()
    staleness = load.timeline.staleness(recovered_at=resumed)
    after = [
        s
        for (started, _), s in zip(load.timeline.reads, staleness, strict=True)
        if started >= resumed
    ]
    figure(
        "redis_paused",
        pause_s=PAUSE_S,
        votes_201=load.votes[201],
        vote_errors=load.vote_errors,
        reads=sum(load.reads.values()),
        read_errors=load.read_errors,
        stale_reads=sum(1 for s in staleness if s > 0),
        stale_reads_after_resume=sum(1 for s in after if s > 0),
        max_staleness_ms=round(1000 * max(staleness, default=0)),
        final_total=final["total_votes"],
        rows=ballots,
        drift=drift,
    )
    assert load.vote_errors == 0 and load.read_errors == 0, (load.votes, load.reads)
    assert max(staleness) <= BOUND_S, sorted(staleness)[-5:]
    assert final["total_votes"] == load.votes[201] == ballots == counted and drift == 0
