"""A poll's lifecycle under a real worker (`manage.py procrastinate worker`): the
clock's events at the poll's times, and the final results after its close, each once."""

import hashlib
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from polls.models import PollEvent
from tests.support.jobs import workers
from tests.support.votes import options_of
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]


def test_the_clock_opens_and_closes_a_poll_and_publishes_its_final_results(
    make_poll, make_voter, figure
):
    poll = make_poll(opens_in=timedelta(seconds=1), closes_in=timedelta(seconds=4))
    voter = make_voter("alice")
    with workers(1, RESULTS_FINAL_DELAY_SECONDS="1"):
        while timezone.now() < poll.opens_at:
            time.sleep(0.1)
        vote = voter.post(
            f"/api/v1/polls/{poll.pk}/votes", {"option_id": options_of(poll)["Ada"]}, format="json"
        )
        assert vote.status_code == 201
        final = PollEvent.objects.filter(poll=poll, type="poll.results_final")
        wait_for(final.exists, within=30)
    events = {e.type: e for e in PollEvent.objects.filter(poll=poll)}
    assert sorted(events) == sorted(PollEvent.Type.values)  # each once (unique per poll)
    assert events["poll.opened"].occurred_at == poll.opens_at
    assert events["poll.closed"].occurred_at == poll.closes_at
    assert events["poll.closed"].data == {"by": "clock"}
    final = events["poll.results_final"].data
    assert final["results"]["total_votes"] == 1 and final["results"]["status"] == "closed"
    receipt = vote.json()["receipt"]
    digest = hashlib.sha256(f"{receipt}\n".encode()).hexdigest()
    assert final["ledger"] == {"count": 1, "digest": f"sha256:{digest}"}
    lag = (events["poll.results_final"].occurred_at - poll.closes_at).total_seconds()
    figure("lifecycle under one worker", results_final_after_close_s=round(lag, 2))
