"""Redis paused (SIGSTOP) for 10 s under voting and reading, then resumed: it comes back
with its data and with the writes that were sent to it meanwhile, in whatever order. The
voting stops as Redis resumes, so no later vote repairs what the pause broke (a poll
that closes during the pause is the same case); the reads go on. No vote fails, no read
is staler than the contract's bound, and the results end equal to the rows. (A killed
Redis comes back empty, which hides the stale entries this one keeps:
tests/reliability/test_redis_down.py; the other shapes of a cache fault:
tests/reliability/test_cache_faults.py.)"""

import time

import pytest

from tests.support import stack
from tests.support.freshness import Load, report_and_check
from tests.support.voters import verified_tokens

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]
PAUSE_S = 10


def test_it_serves_no_read_staler_than_the_bound_through_a_redis_pause(make_poll, scratch, figure):
    with stack.app_with_own_redis(scratch) as (redis, server):
        load = Load.on(
            make_poll(),
            votes_to=[server.url],
            reads_from=[server.url],
            tokens=verified_tokens(1500),
        )
        with load:
            time.sleep(3)
            redis.pause()
            time.sleep(PAUSE_S)
            load.stop_voting()
            redis.resume()
            resumed = time.monotonic()
            time.sleep(5)
        final = load.final_total(server.url)
    report_and_check(load, final, figure, "redis_paused", recovered_at=resumed, pause_s=PAUSE_S)
