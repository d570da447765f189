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


@pytest.mark.reliability  # load: 1,000 voters at once
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
    start = time.monotonic()
    deadline = start + 3

    def paced(token):
        # Spread the votes over the closing moment: some land before, some after. Each
        # has its moment in the 3 s from the start (a thread that is late for it votes
        # at once), so the storm takes 3 s, not the sum of each thread's waits.
        time.sleep(max(0, start + (int(token[:4], 16) % 3000) / 1000 - time.monotonic()))
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


def ballot_audit(poll_id):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT counted, ballots, drift, rankings_drifted FROM ballot_tally_audit "
            "WHERE poll_id = %s",
            [poll_id],
        )
        return cursor.fetchone()


def test_it_takes_one_ranked_ballot_from_a_storm_of_200_by_one_voter(live_server, make_poll):
    poll = make_poll(labels=("Ada", "Grace", "Hedy"), ballot_kind="ranked")
    ada, grace, hedy = options_of(poll).values()
    [token] = verified_tokens(1)
    rankings = ([ada, grace], [grace, hedy, ada], [hedy])
    jobs = [(poll.pk, {"ranking": rankings[i % 3]}, token) for i in range(200)]
    responses = storm(live_server.url, jobs, workers=40)
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: 199}, statuses
    assert Vote.objects.count() == 1
    assert ballot_audit(poll.pk) == (1, 1, 0, 0)
    assert tally_audit() == (1, 1, 0)  # the one first preference


@pytest.mark.reliability  # load: 600 voters at once
def test_it_counts_600_parallel_ranked_and_multiple_ballots_exactly(live_server, make_poll):
    ranked = make_poll(labels=("Ada", "Grace", "Hedy"), ballot_kind="ranked")
    multiple = make_poll(labels=("Ada", "Grace", "Hedy"), ballot_kind="multiple", title="B")
    r, m = list(options_of(ranked).values()), list(options_of(multiple).values())
    tokens = verified_tokens(600)
    jobs = [
        (ranked.pk, {"ranking": [r[i % 3], r[(i + 1) % 3]][: 1 + i % 2]}, token)
        if i % 2
        else (multiple.pk, {"option_ids": m[: 1 + i % 3]}, token)
        for i, token in enumerate(tokens)
    ]
    responses = storm(live_server.url, jobs, workers=32)
    assert Counter(r.status_code for r in responses) == {201: 600}
    assert ballot_audit(ranked.pk) == (300, 300, 0, 0)
    assert ballot_audit(multiple.pk) == (300, 300, 0, 0)
    counted, ballots, drift = tally_audit()
    assert drift == 0 and counted == ballots == 300 + sum(1 + i % 3 for i in range(0, 600, 2))
    call_command("audit_tally")
