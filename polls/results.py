"""A poll's results as served: built from the database in one call, rendered once per
change, and read through this process's results cache (polls/results_cache/), so that no
read is older than a change (a vote, a poll edit) whose answer has been sent.

Reads come through selectors.access_results_by_user (the access rules) or, for the stream
and the lifecycle's final tally, rendered_results; a page of polls (GraphQL's) through
selectors.access_results_of_polls and rendered_results_of_polls; a write announces its change with
services.results_changed, which calls results_cache.changed.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from django.db import connection
from django.utils import timezone

from polls.results_cache import ResultsCache, Version
from polls.status import status_until


@dataclass(frozen=True)
class RenderedResults:
    """A poll's results as served: the JSON body and its ETag, rendered once per change
    and cached as they are, so a read is one cache round trip and no serialization. The
    other fields are what the access rules need, so a read needs no database either."""

    body: bytes  # the documented shape (serializers.ResultsSerializer), compact JSON
    etag: str
    version: int  # the body's version: the poll's vote count, which only grows
    published_at: datetime | None
    results_visibility: str
    status: str  # by the clock when rendered; see status_until
    status_until: datetime | None  # when the status changes by the clock (opens, closes)


def rendered_results(poll_id) -> RenderedResults | None:
    """The poll's current results with no access check, or None for an unknown poll.
    Never older than a vote or a poll change whose answer has been sent."""
    if connection.in_atomic_block:
        # Inside a transaction the database may show rows that are not committed (or
        # will be rolled back): read them, but never let them reach the cache.
        built = _results_from_database(poll_id)
        return built[1] if built else None
    results: RenderedResults | None = results_cache.read(poll_id)  # what build returned
    return results


class _PollRow(NamedTuple):
    ballot_kind: str
    ballots: int
    runoff: str | None  # ranked polls: {"rounds": [...], "winner": id or None}, as JSON
    status: str
    published_at: datetime | None
    closed_at: datetime | None
    opens_at: datetime
    closes_at: datetime
    results_visibility: str
    poll_digest: str


# sql/poll_results_document.sql: the poll's ballot kind and ballots, a ranked poll's
# runoff, its status at the given time, its times and visibility, its options' counter
# sums (the poll_results view: O(options x shards), never a COUNT over votes) and its
# digest (poll_results_version), in one snapshot.
RESULTS_QUERY = "SELECT * FROM poll_results_document(%s, %s)"


# Several polls' documents in one statement (one snapshot), each poll's rows in its own
# order: _built_many.
RESULTS_OF_POLLS_QUERY = """
    SELECT p.id, d.* FROM unnest(%s::bigint[]) WITH ORDINALITY AS p (id, n),
    LATERAL poll_results_document(p.id, %s) WITH ORDINALITY AS d
    ORDER BY p.n, d.ordinality
"""


def _results_from_database(poll_id) -> tuple[Version, RenderedResults] | None:
    """The poll's results and the version they show, in one call."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(RESULTS_QUERY, [poll_id, now])
        rows = cursor.fetchall()
    if not rows:
        return None
    return _built(poll_id, rows, now)


def rendered_results_of_polls(poll_ids) -> dict[int, RenderedResults]:
    """rendered_results for several polls (a page of them), by poll id, unknown polls
    left out: through the results cache, with one database statement for all the polls
    it does not hold (ResultsCache.read_many). The same guarantee, poll by poll."""
    if connection.in_atomic_block:  # as rendered_results: never cache what may roll back
        return {poll_id: built[1] for poll_id, built in _built_many(poll_ids).items()}
    found: dict[int, RenderedResults] = results_cache.read_many(poll_ids, _built_many)
    return found


def _built_many(poll_ids) -> dict[int, tuple[Version, RenderedResults]]:
    """Several polls' results and the versions they show, in one statement (one
    snapshot)."""
    poll_ids = list(poll_ids)
    if not poll_ids:
        return {}
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(RESULTS_OF_POLLS_QUERY, [poll_ids, now])
        rows = cursor.fetchall()
    by_poll: dict[int, list[Any]] = {}
    for row in rows:
        by_poll.setdefault(row[0], []).append(row[1:-1])  # less the id and the ordinality
    return {poll_id: _built(poll_id, found, now) for poll_id, found in by_poll.items()}


def _built(poll_id, rows, now) -> tuple[Version, RenderedResults]:
    """The document of poll_results_document's rows for one poll."""
    n = len(_PollRow._fields)
    poll = _PollRow(*rows[0][:n])
    labels = [(row[n], row[n + 1]) for row in rows if row[n] is not None]
    counts = {row[n]: row[n + 2] for row in rows if row[n] is not None}
    results = _render(poll_id, poll, labels, counts, now)
    return Version(poll.poll_digest, poll.ballots), results


def _render(poll_id, poll: _PollRow, labels, counts, now) -> RenderedResults:
    total = poll.ballots
    document: dict[str, Any] = {
        "poll_id": poll_id,
        "status": poll.status,
        "total_votes": total,
        # Ballots are append-only, so their count is a version that only grows.
        "version": total,
        # UTC with "Z", as DRF renders every other time in the API.
        "as_of": now.isoformat().replace("+00:00", "Z"),
        "ballot_kind": poll.ballot_kind,
        "options": [
            {
                "id": option_id,
                "label": label,
                "votes": counts.get(option_id, 0),
                "share": round(counts.get(option_id, 0) / total, 6) if total else 0,
            }
            for option_id, label in labels
        ],
    }
    if poll.runoff is not None:
        runoff = json.loads(poll.runoff)  # Django leaves jsonb as its text
        document["rounds"] = runoff["rounds"]
        document["winner"] = runoff["winner"]
    return RenderedResults(
        # As DRF's JSONRenderer writes it: compact, UTF-8.
        body=json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode(),
        etag=_etag(document),
        version=document["version"],
        published_at=poll.published_at,
        results_visibility=poll.results_visibility,
        status=poll.status,
        # The same instant as the status: the two agree on when it changes next.
        status_until=status_until(poll, now),
    )


def _etag(document) -> str:
    """A weak validator over everything but as_of (status and labels included)."""
    stable = {k: v for k, v in document.items() if k != "as_of"}
    digest = hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()[:20]
    return f'W/"{document["version"]}-{digest}"'


# This process's results cache: one per process, as its slots and lease keeper are.
results_cache = ResultsCache(build=_results_from_database)
