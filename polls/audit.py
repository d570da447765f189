"""Reads for auditors: a closed poll's results export and its public receipt ledger.

Both open to everyone once the poll is closed, and to staff at any time; before that,
non-staff get 403 poll_not_closed. Neither says anything about a voter, and the ledger
names no option: a receipt proves that a ballot was counted, never what it chose.
"""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from polls import errors
from polls.models import Option, OptionTally, Vote
from polls.selectors import access_poll_by_user
from polls.status import closed_since, poll_status

# The export's columns, in their documented order (docs/api-contract.md). Append new
# columns at the end: auditors' scripts read them by position.
EXPORT_COLUMNS = (
    "poll_id",
    "poll_title",
    "opens_at",
    "closes_at",
    "closed_at",
    "tally_version",
    "total_votes",
    "option_id",
    "option_position",
    "option_label",
    "votes",
    "share",
)


def access_audit_by_user(poll_id, user):
    """The poll whose export and ledger `user` may read: 404 as for any poll read, then
    403 poll_not_closed for non-staff until the poll is closed."""
    poll = access_poll_by_user(poll_id, user)
    if user.is_staff:
        return poll
    if poll_status(poll) != "closed":
        raise errors.PollNotClosed()
    return poll


def poll_export(poll) -> dict[str, Any]:
    """The poll's final (or, for staff before close, current) tally from the counters,
    one entry per option in position order."""
    counters = (
        OptionTally.objects.filter(poll_id=poll.pk)
        .values("option_id")
        .annotate(votes=Sum("votes"))
        .values_list("option_id", "votes")
    )
    counts = dict(counters)
    total = sum(counts.values())
    options = Option.objects.filter(poll_id=poll.pk).order_by("position")
    return {
        "poll": {
            "id": poll.pk,
            "title": poll.title,
            "status": poll_status(poll),
            "opens_at": poll.opens_at,
            "closes_at": poll.closes_at,
            "closed_at": poll.closed_at,
        },
        # Votes are append-only, so the total is the version (as in the results).
        "tally_version": total,
        "total_votes": total,
        "exported_at": timezone.now(),
        "options": [
            {
                "option_id": o.pk,
                "position": o.position,
                "label": o.label,
                "votes": counts.get(o.pk, 0),
                "share": round(counts.get(o.pk, 0) / total, 6) if total else 0.0,
            }
            for o in options.only("id", "position", "label")
        ],
    }


def export_rows(document):
    """The export as CSV rows in EXPORT_COLUMNS order (times in ISO 8601, UTC)."""

    def iso(value):
        return value.isoformat().replace("+00:00", "Z") if value else ""

    poll = document["poll"]
    for option in document["options"]:
        yield (
            poll["id"],
            poll["title"],
            iso(poll["opens_at"]),
            iso(poll["closes_at"]),
            iso(poll["closed_at"]),
            document["tally_version"],
            document["total_votes"],
            option["option_id"],
            option["position"],
            option["label"],
            option["votes"],
            option["share"],
        )


def ledger_complete_since(poll) -> datetime | None:
    """When a closed poll's ledger is final: no vote commits after this (a vote's
    transaction began before the close, and ends within RESULTS_FINAL_DELAY_SECONDS).
    None for a poll still open (staff): its ledger moves anyway."""
    closed = closed_since(poll)
    if closed is None:
        return None
    return closed + timedelta(seconds=settings.RESULTS_FINAL_DELAY_SECONDS)


def receipt_ledger(poll):
    """Every counted ballot of the poll as its receipt, ordered by receipt: no time, which
    with the timeline could prove a receipt's choice (docs/privacy.md).

    polls_vote_ledger_idx (poll_id, receipt) INCLUDE (cast_at) serves the page and its
    COUNT(*) as index-only scans: the ledger never reads the heap rows that hold the
    voter key and the option. Ordered by receipt, not by time, so a voter can find their
    receipt by its first letters, and the order says nothing about who voted when.
    """
    return Vote.objects.filter(poll_id=poll.pk).order_by("receipt").values("receipt")


# The ledger in one statement, over the same index-only scan as its pages: the digest
# is the SHA-256 of its receipts in its order, each followed by a newline.
LEDGER_SUMMARY = """
SELECT count(*), encode(sha256(convert_to(
           coalesce(string_agg(receipt || E'\\n', '' ORDER BY receipt), ''), 'UTF8')), 'hex')
FROM polls_vote WHERE poll_id = %s
"""


def ledger_summary(poll_id) -> dict[str, Any]:
    """{count, digest} of the poll's receipt ledger (poll.results_final carries it)."""
    with connection.cursor() as cursor:
        cursor.execute(LEDGER_SUMMARY, [poll_id])
        count, digest = cursor.fetchone()
    return {"count": count, "digest": f"sha256:{digest}"}
