"""The cache's other fault shapes, under voting and reading, each ending with the voting
stopped so that no later vote repairs what the fault broke:

- partitioned: one app node loses Redis (a proxy that drops every byte, both ways) while
  the other node and the reconciler still reach it. The cut node's votes cannot announce
  themselves, and the other node keeps reading Redis's entries;
- restarted with old data: Redis is killed and comes back from a snapshot taken before
  some votes (as a replica that was behind, promoted, would), with the generations and
  the good entries it had then.

Either way: no vote fails, no read is staler than the contract's bound, and the results
end equal to the rows."""

import time

import httpx
import pytest
import redis as redis_py

from tests.support import stack
from tests.support.freshness import BOUND_S, Load
from tests.support.partition import Partition
from tests.support.stack import app_env
from tests.support.voters import verified_tokens
from tests.support.votes import options_of, tally_audit

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]


def check(load, final, figure, name, *, recovered_at, **figures):
    counted, ballots, drift = tally_audit()
    staleness = load.timeline.staleness(recovered_at=recovered_at)
    figure(
        name,
        **figures,
        votes_201=load.votes[201],
        vote_errors=load.vote_errors,
        reads=sum(load.reads.values()),
        read_errors=load.read_errors,
        stale_reads=sum(1 for s in staleness if s > 0),
        max_staleness_ms=round(1000 * max(staleness, default=0)),
        final_total=final,
        rows=ballots,
        drift=drift,
    )
    assert load.vote_errors == 0 and load.read_errors == 0, (load.votes, load.reads)
    assert max(staleness) <= BOUND_S, sorted(staleness)[-5:]
    assert final == load.votes[201] == ballots == counted and drift == 0


def test_it_bounds_staleness_when_one_node_is_cut_off_from_redis(make_poll, scratch, figure):
    redis = stack.Redis(scratch).start()
    cable = Partition(redis.port)
    cut_off = stack.AppServer(app_env(REDIS_URL=cable.url()), log=scratch / "cut.log")
    other = stack.AppServer(app_env(REDIS_URL=redis.url), log=scratch / "other.log")
    reconciler = stack.manage_child(
        "reconciler", ["reconcile_results"], env=app_env(REDIS_URL=redis.url),
        log=scratch / "reconciler.log",
    )  # fmt: skip
    poll = make_poll()
    load = Load(
        vote_bases=[cut_off.url],  # only the cut node votes: its announcements are lost
        read_bases=[other.url, cut_off.url],
        poll_id=poll.pk,
        option_id=options_of(poll)["Ada"],
        tokens=verified_tokens(1200),
    )
    try:
        with load:
            time.sleep(2)
            cable.cut()
            time.sleep(6)
            load.stop_voting()
            time.sleep(2)
            cable.heal()
            healed = time.monotonic()
            time.sleep(3)
        final = httpx.get(f"{other.url}/api/v1/polls/{poll.pk}/results", timeout=30).json()
    finally:
        reconciler.stop()
        cut_off.stop()
        other.stop()
        cable.close()
        redis.stop()
    check(load, final["total_votes"], figure, "redis_partitioned", recovered_at=healed, cut_s=8)


def test_it_bounds_staleness_when_redis_comes_back_with_old_data(make_poll, scratch, figure):
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
        tokens=verified_tokens(1000),
    )
    try:
        with load:
            time.sleep(2)
            load.hold_votes()
            time.sleep(0.5)  # the readers rebuild a good entry
            client = redis_py.Redis.from_url(redis.url)
            client.save()  # the snapshot it will come back with, good entry and all
            client.close()
            load.resume_votes()
            time.sleep(3)  # votes the snapshot does not have
            load.stop_voting()
            time.sleep(0.5)
            redis.kill()
            redis.start()
            restarted = time.monotonic()
            time.sleep(4)
        final = httpx.get(f"{server.url}/api/v1/polls/{poll.pk}/results", timeout=30).json()
    finally:
        reconciler.stop()
        server.stop()
        redis.stop()
    check(load, final["total_votes"], figure, "redis_old_data", recovered_at=restarted)
