"""Votes under real concurrency: threads against a live server, transaction=True."""

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from django.core.management import call_command

from polls.models import Poll, Vote
from tests.support.voters import verified_tokens
from tests.support.votes import cast, options_of, storm, tally_audit

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_takes_one_vote_from_a_storm_of_200_by_one_voter(live_server, make_poll):
    poll = make_poll()
    options = list(options_of(poll).values())
    [token] = verified_tokens(1)
    jobs = [(poll.pk, options[i % 2], token) for i in range(200)]
    responses = storm(live_server.url, jobs, workers=40)
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: 199}, statuses
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"already_voted"}
    assert Vote.objects.count() == 1
    assert tally_audit() == (1, 1, 0)


def test_it_counts_1000_parallel_voters_exactly(live_server, make_poll):
    poll = make_poll(labels=("Ada", "Grace", "Hedy"))
    options = list(options_of(poll).values())
    tokens = verified_tokens(1000)
    jobs = [(poll.pk, options[i % 3], token) for i, token in enumerate(tokens)]
    responses = storm(live_server.url, jobs, workers=32)
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1000}, statuses
    counted, ballots, drift = tally_audit()
    assert Vote.objects.count() == ballots == counted == 1000
    assert drift == 0
    call_command("audit_tally")  # exits 0: no drift


def test_it_stores_no_vote_after_closes_at(live_server, make_poll):
    poll = make_poll(closes_in=timedelta(seconds=1.5))
    closes_at = Poll.objects.get(pk=poll.pk).closes_at
    ada = options_of(poll)["Ada"]
    tokens = verified_tokens(120)
    deadline = time.monotonic() + 3

    def paced(token):
        # Spread the votes over the closing moment: some land before, some after.
        time.sleep((int(token[:4], 16) % 3000) / 1000)
        if time.monotonic() > deadline:
            return None
        return cast(httpx, live_server.url, poll.pk, ada, token)

    with ThreadPoolExecutor(24) as pool:
        responses = [r for r in pool.map(paced, tokens) if r is not None]
    statuses = Counter(r.status_code for r in responses)
    assert statuses[201] > 0 and statuses[409] > 0, statuses
    assert set(statuses) <= {201, 409}
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"poll_not_open"}
    cast_times = list(Vote.objects.values_list("cast_at", flat=True))
    assert len(cast_times) == statuses[201]
    assert max(cast_times) < closes_at
