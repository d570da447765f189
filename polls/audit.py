"""Reads for auditors: a closed poll's results export and its public receipt ledger.

Both open to everyone once the poll is closed, and to staff at any time; before that,
non-staff get 403 poll_not_closed. Neither says anything about a voter, and the ledger
names no option: a receipt proves that a ballot was counted, never what it chose.
"""

import json
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import Http404
from django.utils import timezone

from polls import errors
from polls.models import Option, Vote
from polls.results import rendered_results
from polls.selectors import access_poll_by_user
from polls.status import closed_since, poll_status

# The export's columns, in their documented order (docs/api-contract.md). Append new
# columns at the end: auditors' scripts read them by position. The last four came with
# ballot kinds; the runoff's are empty but for ranked polls.
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
    "ballot_kind",
    "eliminated_in_round",
    "final_round_votes",
    "winner",
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
    """The poll's final (or, for staff before close, current) tally: the results document
    (polls/results.py, never older than an acknowledged ballot), one entry per option in
    position order, and a ranked poll's runoff."""
    results = rendered_results(poll.pk)
    if results is None:  # deleted since it was read
        raise Http404
    document = json.loads(results.body)
    positions = dict(Option.objects.filter(poll_id=poll.pk).values_list("id", "position"))
    export: dict[str, Any] = {
        "poll": {
            "id": poll.pk,
            "title": poll.title,
            "status": poll_status(poll),
            "opens_at": poll.opens_at,
            "closes_at": poll.closes_at,
            "closed_at": poll.closed_at,
        },
        # Ballots are append-only, so their count is the version (as in the results).
        "tally_version": document["version"],
        "total_votes": document["total_votes"],
        "exported_at": timezone.now(),
        "ballot_kind": document["ballot_kind"],
        "options": [
            {
                "option_id": o["id"],
                "position": positions[o["id"]],
                "label": o["label"],
                "votes": o["votes"],
                "share": float(o["share"]),
            }
            for o in document["options"]
        ],
    }
    if "rounds" in document:
        export["rounds"] = document["rounds"]
        export["winner"] = document["winner"]
    return export


def export_rows(document):
    """The export as CSV rows in EXPORT_COLUMNS order (times in ISO 8601, UTC)."""

    def iso(value):
        return value.isoformat().replace("+00:00", "Z") if value else ""

    poll = document["poll"]
    runoff = _runoff_by_option(document)
    for option in document["options"]:
        eliminated_in, final_votes = runoff.get(option["option_id"], ("", ""))
        winner = ""
        if "winner" in document:
            winner = "true" if option["option_id"] == document["winner"] else "false"
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
            document["ballot_kind"],
            eliminated_in,
            final_votes,
            winner,
        )


def _runoff_by_option(document) -> dict[int, tuple[int | str, int]]:
    """Per option of a ranked poll: the round after which it was eliminated ('' if never)
    and its votes in the last round it was counted in."""
    by_option: dict[int, tuple[int | str, int]] = {}
    for count in document.get("rounds", []):
        for option in count["options"]:
            by_option[option["id"]] = ("", option["votes"])
        for option_id in count["eliminated"]:
            by_option[option_id] = (count["round"], by_option[option_id][1])
    return by_option


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
