"""No public figure ties a receipt to its option (docs/privacy.md): the receipt check and
the ledger say nothing of when a ballot was cast, and the timeline publishes no bucket of
fewer than k votes, held back while it could still change. A buyer or a coercer who is
shown a receipt learns that it was counted in that poll, and nothing else."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from polls import services
from polls.models import Poll, ResultsSnapshot
from tests.support.votes import options_of

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]


def snapshot(api, poll):
    """The timeline as a refresh taken two minutes from now would publish it: the
    materialized view refreshed now (no vote comes in meanwhile, so it would hold the
    same rows), its refresh time set two minutes on, so every minute so far is over."""
    call_command("refresh_results")
    ResultsSnapshot.objects.filter(name="vote_timeline_mv").update(
        refreshed_at=timezone.now() + timedelta(minutes=2)
    )
    return api.get(f"/api/v1/polls/{poll.pk}/results/timeline").json()["buckets"]


def bucket_totals(buckets):
    totals = {}
    for b in buckets:
        key = (b["starts_at"], b["ends_at"])
        totals[key] = totals.get(key, 0) + b["votes"]
    return totals


def test_no_public_figure_ties_a_receipt_to_its_option(api, make_poll, make_voter, figure):
    k = settings.TIMELINE_MIN_BUCKET_VOTES
    poll = make_poll(labels=("Ada", "Grace", "Linus"))
    options = list(options_of(poll).values())
    receipts, seen = [], []

    def cast(n):
        for _ in range(n):
            voter = make_voter(f"voter{len(receipts)}")
            answer = voter.post(
                f"/api/v1/polls/{poll.pk}/votes",
                {"option_id": options[0 if len(receipts) % 3 == 0 else 1]},  # Ada, Grace, Grace
                format="json",
            )
            assert answer.status_code == 201
            receipts.append(answer.json()["receipt"])

    try:
        cast(k - 1)
        seen.append(snapshot(api, poll))  # k - 1 votes: no bucket yet
        cast(2 * k + 3)
        seen.append(snapshot(api, poll))
        services.poll_close(poll=Poll.objects.get(pk=poll.pk))
        seen.append(snapshot(api, poll))  # closed: every vote, the rest in the last bucket
    finally:
        call_command("refresh_results")  # the snapshot's true refresh time back

    checks = [api.get(f"/api/v1/receipts/{r}").json() for r in receipts]
    ledger = api.get(f"/api/v1/polls/{poll.pk}/receipts?page_size=100").json()["results"]
    figure(
        "receipt_freeness",
        k=k,
        votes=len(receipts),
        buckets_per_snapshot=[len(bucket_totals(s)) for s in seen],
        smallest_bucket=min((t for s in seen for t in bucket_totals(s).values()), default=None),
        receipt_check_fields=sorted(checks[0]),
        ledger_fields=sorted(ledger[0]),
    )
    # The receipt check and the ledger: no time, no option.
    assert all(check == {"poll_id": poll.pk, "counted": True} for check in checks)
    assert sorted(e["receipt"] for e in ledger) == sorted(receipts)
    assert all(set(e) == {"receipt"} for e in ledger)
    # The timeline: nothing before k votes, no bucket under k, each published bucket
    # unchanged in every later snapshot while the poll was open, and all of it at close.
    assert seen[0] == []
    assert seen[1] and all(t >= k for t in bucket_totals(seen[1]).values())
    assert all(t >= k for t in bucket_totals(seen[2]).values())
    assert sum(b["votes"] for b in seen[2]) == len(receipts)
    last = max(bucket_totals(seen[1]))
    kept = [b for b in seen[1] if (b["starts_at"], b["ends_at"]) != last]
    assert seen[2][: len(kept)] == kept
