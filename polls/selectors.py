"""Reads for polls and votes."""

import hashlib
import json

from cacheops import cached_as
from django.db.models import Q, Sum
from django.http import Http404
from django.utils import timezone

from polls.models import OptionTally, Poll, ResultsSnapshot, Vote, VoteTimelineSnapshot
from pollsite.problems import Problem

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


# --- Results ---------------------------------------------------------------------------


def results_hidden_from(poll, user) -> bool:
    """after_close polls hide their results from non-staff until they close."""
    if user.is_staff:
        return False
    return poll.results_visibility == "after_close" and poll_status(poll) != "closed"


def access_results_by_user(poll_id, user) -> Poll:
    """The poll whose results `user` may see: 404 as access_poll_by_user, then 403
    results_hidden for an after_close poll that is not closed yet."""
    poll = access_poll_by_user(poll_id, user)
    if results_hidden_from(poll, user):
        raise Problem("results_hidden", "Results are hidden until the poll closes.", status=403)
    return poll


def _tally(poll_id) -> tuple[dict[int, int], str]:
    """{option_id: votes} from the counters, and when they were read: O(options x shards).

    Cached in Redis until the next vote on this poll commits (services.results_changed
    invalidates it). keep_fresh: a read that started before an invalidation does not
    write its (possibly older) result back into the cache.
    """
    counters = OptionTally.objects.filter(poll_id=poll_id)

    @cached_as(counters, keep_fresh=True, extra=poll_id)
    def read():
        rows = counters.values("option_id").annotate(votes=Sum("votes"))
        # UTC with "Z", as DRF renders every other time in the API.
        as_of = timezone.now().isoformat().replace("+00:00", "Z")
        return {row["option_id"]: row["votes"] for row in rows}, as_of

    return read()


def poll_results(poll) -> dict:
    counts, as_of = _tally(poll.pk)
    total = sum(counts.values())
    options = [
        {
            "id": o.pk,
            "label": o.label,
            "votes": counts.get(o.pk, 0),
            "share": round(counts.get(o.pk, 0) / total, 6) if total else 0,
        }
        for o in poll.options.all()
    ]
    return {
        "poll_id": poll.pk,
        "status": poll_status(poll),
        "total_votes": total,
        # Votes are append-only, so the count is a version that only grows.
        "version": total,
        "as_of": as_of,
        "options": options,
    }


def results_etag(results) -> str:
    """A weak validator over everything but as_of (status and labels included)."""
    stable = {k: v for k, v in results.items() if k != "as_of"}
    digest = hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()[:20]
    return f'W/"{results["version"]}-{digest}"'


def poll_timeline(poll) -> dict:
    """The vote_timeline_mv snapshot for a poll, and when it was taken."""
    buckets = list(
        VoteTimelineSnapshot.objects.filter(poll_id=poll.pk)
        .order_by("minute", "option_id")
        .values("minute", "option_id", "votes")
        .cache()
    )
    snapshot = ResultsSnapshot.objects.filter(name=VoteTimelineSnapshot._meta.db_table)
    refreshed_at = snapshot.cache().values_list("refreshed_at", flat=True).first()
    return {"poll_id": poll.pk, "refreshed_at": refreshed_at, "buckets": buckets}
