"""Reads for polls and votes."""

import functools
import hashlib
import json
from types import SimpleNamespace

from cacheops import cached_as
from django.db.models import Q, Sum
from django.http import Http404
from django.utils import timezone

from polls.models import Option, OptionTally, Poll, ResultsSnapshot, Vote, VoteTimelineSnapshot
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
    _refuse_unless_visible(poll, user)
    return poll


def _refuse_unless_visible(poll, user):
    """404 for no poll, and for a draft unless `user` is staff."""
    if poll is None:
        raise Http404
    if poll.published_at is None and not user.is_staff:
        raise Http404


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


def my_votes(user, poll_ids) -> dict[int, Vote]:
    """The votes of `user`'s national ID in these polls, by poll id: one query for any
    number of polls, none for anonymous or unverified users (the voter identity comes
    with the token, see identity.authentication)."""
    identity = getattr(user, "voter_identity", None)
    poll_ids = list(poll_ids)
    if identity is None or not poll_ids:
        return {}
    # polls_vote_one_per_voter (poll_id, voter_key) serves this lookup.
    votes = Vote.objects.filter(voter_key=bytes(identity.voter_key), poll_id__in=poll_ids)
    return {v.poll_id: v for v in votes.only("poll_id", "receipt", "cast_at")}


def vote_by_receipt(receipt) -> Vote | None:
    # polls_vote_unique_receipt serves this lookup.
    return Vote.objects.filter(receipt=receipt).only("poll_id", "cast_at").first()


# --- Results ---------------------------------------------------------------------------


def _refuse_hidden_results(poll, user):
    """403 results_hidden: after_close polls hide their results from non-staff until
    they close."""
    if user.is_staff:
        return
    if poll.results_visibility == "after_close" and poll_status(poll) != "closed":
        raise Problem("results_hidden", "Results are hidden until the poll closes.", status=403)


def results_for(poll_id, user) -> dict:
    """The poll's results, if `user` may see them: 404 for an unknown poll (or a draft,
    for non-staff), 403 results_hidden for an after_close poll that is not closed yet."""
    results, poll = _results_document(poll_id) or (None, None)
    _refuse_unless_visible(poll, user)
    _refuse_hidden_results(poll, user)
    return results


def access_results_by_user(poll_id, user) -> Poll:
    """The poll whose results `user` may see (the rules of results_for), for reads that
    need the poll itself, such as the timeline."""
    poll = access_poll_by_user(poll_id, user)
    _refuse_hidden_results(poll, user)
    return poll


def poll_results(poll_id) -> dict | None:
    """The poll's results with no access check (the stream checked at connect)."""
    found = _results_document(poll_id)
    return found[0] if found else None


def _results_document(poll_id):
    """(results, poll times and visibility) from one cached read, or None."""
    document = _results_reader(poll_id)()
    if document is None:
        return None
    poll = SimpleNamespace(**document["poll"])
    counts, total = document["counts"], sum(document["counts"].values())
    options = [
        {
            "id": option_id,
            "label": label,
            "votes": counts.get(option_id, 0),
            "share": round(counts.get(option_id, 0) / total, 6) if total else 0,
        }
        for option_id, label in document["options"]
    ]
    results = {
        "poll_id": poll_id,
        "status": poll_status(poll),  # by the clock now, not when it was cached
        "total_votes": total,
        # Votes are append-only, so the count is a version that only grows.
        "version": total,
        "as_of": document["as_of"],
        "options": options,
    }
    return results, poll


@functools.lru_cache(maxsize=4096)
def _results_reader(poll_id):
    """Everything a results read needs, in one cacheops entry: the poll's times and
    visibility, its options, and the counters summed per option (O(options x shards),
    never a COUNT over votes).

    Built once per poll per process: cached_as compiles its sample querysets to SQL to
    make the cache key, and doing that on every read cost more than the read itself.
    The entry lives until the poll or an option changes (cacheops sees those ORM writes)
    or a vote on the poll commits (services.results_changed invalidates the counters,
    which a trigger writes behind the ORM's back). keep_fresh: a read that began before
    an invalidation never writes its older result back, so once a vote's 201 is out,
    every later read includes it.
    """
    poll = Poll.objects.filter(pk=poll_id)
    options = Option.objects.filter(poll_id=poll_id)
    counters = OptionTally.objects.filter(poll_id=poll_id)

    @cached_as(poll, options, counters, keep_fresh=True, extra=poll_id)
    def read():
        fields = ("published_at", "closed_at", "opens_at", "closes_at", "results_visibility")
        row = poll.nocache().values(*fields).first()
        if row is None:
            return None
        counts = counters.nocache().values("option_id").annotate(votes=Sum("votes"))
        return {
            "poll": row,
            "options": list(options.nocache().order_by("position").values_list("id", "label")),
            "counts": {c["option_id"]: c["votes"] for c in counts},
            # UTC with "Z", as DRF renders every other time in the API.
            "as_of": timezone.now().isoformat().replace("+00:00", "Z"),
        }

    return read


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
