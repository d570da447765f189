"""A poll's status: draft, scheduled, open or closed, derived from its times, never stored.

Its one definition is PostgreSQL's poll_status() (sql/poll_status.sql), which the vote
check, the option freeze, the results document, the lifecycle's clock jobs and the poll
list's filter ask (PollStatus, below, for the ORM). This module is its one Python mirror,
for a poll row already in hand (a serializer, a service's early refusal, the audit), and
tests/polls/test_status.py holds the two together at every boundary.
"""

from datetime import datetime

from django.db.models import CharField, DateTimeField, F, Func, Value
from django.db.models.functions import Now
from django.utils import timezone

STATUSES = ("draft", "scheduled", "open", "closed")


def poll_status(poll, now=None) -> str:
    """What poll_status() says of `poll` (anything with its four times) at `now`."""
    now = now or timezone.now()
    if poll.published_at is None:
        return "draft"
    if poll.closed_at is not None or now >= poll.closes_at:
        return "closed"
    if now < poll.opens_at:
        return "scheduled"
    return "open"


def status_until(poll, now) -> datetime | None:
    """When poll_status will next change by the clock alone, or None if it never will."""
    if poll.published_at is None or poll.closed_at is not None:
        return None
    if now < poll.opens_at:
        return poll.opens_at  # type: ignore[no-any-return]
    if now < poll.closes_at:
        return poll.closes_at  # type: ignore[no-any-return]
    return None


def closed_since(poll) -> datetime | None:
    """When a closed poll closed (early, or at its closing time); None if it is not."""
    if poll_status(poll) != "closed":
        return None
    return min(poll.closes_at, poll.closed_at or poll.closes_at)  # type: ignore[no-any-return]


class PollStatus(Func):
    """poll_status() of the row's poll, as of the datetime `as_of` (by default the
    database's now(), the transaction's time)."""

    function = "poll_status"
    output_field = CharField()

    def __init__(self, as_of: datetime | None = None) -> None:
        super().__init__(
            F("published_at"),
            F("closed_at"),
            F("opens_at"),
            F("closes_at"),
            Now() if as_of is None else Value(as_of, output_field=DateTimeField()),
        )
