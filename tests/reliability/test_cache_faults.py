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

import pytest
import redis as redis_py

from tests.support import stack
from tests.support.freshness import Load, report_and_check
from tests.support.partition import Partition
from tests.support.stack import app_env
from tests.support.voters import verified_tokens

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]


def test_it_bounds_staleness_when_one_node_is_cut_off_from_redis(make_poll, scratch, figure):
    cables = []

    def through_a_cable(redis):
        cables.append(Partition(redis.port))
        return cables[0].url()

    with stack.app_with_own_redis(scratch, via=through_a_cable, workers=1) as (redis, cut_off):
        cable = cables[0]
        other = stack.AppServer(app_env(REDIS_URL=redis.url), log=scratch / "other.log")
        try:
            load = Load.on(
                make_poll(),
                votes_to=[cut_off.url],  # only the cut node votes: its announcements are lost
                reads_from=[other.url, cut_off.url],
                tokens=verified_tokens(1200),
            )
            with load:
                time.sleep(2)
                cable.cut()
                time.sleep(6)
                load.stop_voting()
                time.sleep(2)
                cable.heal()
                healed = time.monotonic()
                time.sleep(3)
            final = load.final_total(other.url)
        finally:
            other.stop()
            cable.close()
    report_and_check(load, final, figure, "redis_partitioned", recovered_at=healed, cut_s=8)


def test_it_bounds_staleness_when_redis_comes_back_with_old_data(make_poll, scratch, figure):
    with stack.app_with_own_redis(scratch) as (redis, server):
        load = Load.on(
            make_poll(),
            votes_to=[server.url],
            reads_from=[server.url],
            tokens=verified_tokens(1000),
        )
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
        final = load.final_total(server.url)
    report_and_check(load, final, figure, "redis_old_data", recovered_at=restarted)
