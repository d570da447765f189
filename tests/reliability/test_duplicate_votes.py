"""1,000 parallel copies of one voter's vote: exactly one counts."""

import time
from collections import Counter

import pytest

from polls.models import Vote
from tests.support.voters import verified_tokens
from tests.support.votes import options_of, storm, tally_audit

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]


def test_it_takes_one_vote_from_1000_parallel_duplicates(live_server, make_poll, figure):
    poll = make_poll()
    option = options_of(poll)["Ada"]
    [token] = verified_tokens(1)
    started = time.monotonic()
    responses = storm(live_server.url, [(poll.pk, option, token)] * 1000, workers=50)
    elapsed = time.monotonic() - started
    statuses = Counter(r.status_code for r in responses)
    codes = Counter(r.json().get("code") for r in responses if r.status_code == 409)
    counted, ballots, drift = tally_audit()
    figure(
        "duplicate_votes",
        requests=len(responses),
        threads=50,
        seconds=f"{elapsed:.1f}",
        created=statuses[201],
        already_voted=codes["already_voted"],
        server_errors=sum(n for s, n in statuses.items() if s >= 500),
        rows=Vote.objects.filter(poll=poll).count(),
        drift=drift,
    )
    assert statuses == {201: 1, 409: 999}, statuses
    assert codes == {"already_voted": 999}
    assert Vote.objects.filter(poll=poll).count() == 1
    assert (counted, ballots, drift) == (1, 1, 0)
