"""Reads for polls and votes."""

from django.db.models import Q, Sum
from django.http import Http404
from django.utils import timezone

from polls.models import OptionTally, Poll, Vote

STATUSES = ("draft", "scheduled", "open", "closed")


def poll_status(poll, now=None) -> str:
    """draft, scheduled, open or closed: derived from the poll's times, never stored."""
    now = now or timezone.now()
    if poll.published_at is None:
        return "draft"
    if poll.closed_at is not None or now >= poll.closes_at:
        return "closed"
    if now < poll.opens_at:
        return "scheduled"
    return "open"


def _status_q(status, now) -> Q:
    """The database side of poll_status, for filtering lists."""
    published = Q(published_at__isnull=False)
    closed = Q(closed_at__isnull=False) | Q(closes_at__lte=now)
    return {
        "draft": Q(published_at__isnull=True),
        "closed": published & closed,
        "scheduled": published & ~closed & Q(opens_at__gt=now),
        "open": published & ~closed & Q(opens_at__lte=now),
    }[status]


def poll_list_visible_to(user, *, status=None):
    polls = Poll.objects.prefetch_related("options")
    if not user.is_staff:
        polls = polls.filter(published_at__isnull=False)
    if status:
        polls = polls.filter(_status_q(status, timezone.now()))
    return polls


def access_poll_by_user(poll_id, user) -> Poll:
    """The only way to fetch a poll for a user: unknown polls, and drafts for non-staff,
    are 404, so a non-staff user cannot even learn that a draft exists."""
    poll = Poll.objects.prefetch_related("options").filter(pk=poll_id).first()
    if poll is None:
        raise Http404
    if poll.published_at is None and not user.is_staff:
        raise Http404
    return poll


def poll_totals(poll_ids) -> dict[int, int]:
    """Total votes per poll, from the counters (never a COUNT over votes)."""
    rows = (
        OptionTally.objects.filter(poll_id__in=list(poll_ids))
        .values("poll_id")
        .annotate(total=Sum("votes"))
        .values_list("poll_id", "total")
    )
    return dict(rows)


def vote_of(poll, user) -> Vote | None:
    identity = getattr(user, "voter_identity", None)
    if identity is None:
        return None
    # polls_vote_one_per_voter (poll_id, voter_key) serves this lookup.
    return Vote.objects.filter(poll=poll, voter_key=bytes(identity.voter_key)).first()


def vote_by_receipt(receipt) -> Vote | None:
    # polls_vote_unique_receipt serves this lookup.
    return Vote.objects.filter(receipt=receipt).only("poll_id", "cast_at").first()
