"""Read-your-writes across processes, strictly: with readers keeping every app process's
copy of the results warm (leases held in both API workers), each vote's 201 is followed
at once by a read that may land on either worker, and every read that starts after a
201 must include that vote. Nothing is faulty here, so the bound is zero, not the
contract's fault bound."""

import time

import pytest

from tests.support.freshness import Load
from tests.support.voters import verified_tokens

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]


def test_no_read_misses_a_vote_acknowledged_before_it(web_server, make_poll, figure):
    load = Load.on(
        make_poll(),
        votes_to=[web_server.url],
        reads_from=[web_server.url],
        tokens=verified_tokens(1500),
        voters=4,
        readers=6,
        pace_s=0,
    )
    with load:
        time.sleep(8)
    staleness = load.timeline.staleness()
    figure(
        "read_your_writes",
        votes_201=load.votes[201],
        reads=len(staleness),
        stale_reads=sum(1 for s in staleness if s > 0),
        max_staleness_ms=round(1000 * max(staleness, default=0), 1),
    )
    assert load.vote_errors == 0 and load.read_errors == 0, (load.votes, load.reads)
    assert load.votes[201] > 100 and len(staleness) > 500
    assert max(staleness) == 0, sorted(staleness)[-5:]
