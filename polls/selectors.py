"""Reads for polls and votes."""

from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from polls import errors
from polls.models import (
    Poll,
    PollEvent,
    ResultsSnapshot,
    ResultsVisibility,
    Vote,
    VoteTimelineSnapshot,
)
from polls.results import RenderedResults, rendered_results, rendered_results_of_polls
from polls.status import PollStatus


def poll_list_visible_to(user, *, status=None) -> QuerySet[Poll]:
    polls = Poll.objects.prefetch_related("options")
    if not user.is_staff:
        polls = polls.filter(published_at__isnull=False)
    if status:
        # As of the app's clock, as each poll's `status` in the answer is written.
        polls = polls.alias(status_now=PollStatus(as_of=timezone.now())).filter(status_now=status)
    return polls


def access_poll_by_user(poll_id, user) -> Poll:
    """The only way to fetch a poll for a user: unknown polls, and drafts for non-staff,
    are 404, so a non-staff user cannot even learn that a draft exists."""
    poll = Poll.objects.prefetch_related("options").filter(pk=poll_id).first()
    return _refuse_unless_visible(poll, user)


class _Publishable(Protocol):
    @property
    def published_at(self) -> datetime | None: ...


_P = TypeVar("_P", bound=_Publishable)


def _refuse_unless_visible(poll: _P | None, user) -> _P:
    """404 for no poll, and for a draft unless `user` is staff; else the poll."""
    if poll is None:
        raise Http404
    if poll.published_at is None and not user.is_staff:
        raise Http404
    return poll


def poll_totals(poll_ids) -> dict[int, int]:
    """Ballots per poll, from the counters (never a COUNT over votes): what
    poll_results_version says, which sums a single poll's option counters and a multiple
    or ranked poll's ballot counters (their option counters are approvals and first
    preferences). One query for any number of polls."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT poll_id, total_votes FROM poll_results_version WHERE poll_id = ANY(%s)",
            [list(poll_ids)],
        )
        return dict(cursor.fetchall())


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


def access_results_by_user(poll_id, user) -> RenderedResults:
    """The only way to a poll's results for a user (the results document, its stream and
    its timeline all come through here): 404 for an unknown poll (or a draft, for
    non-staff), 403 results_hidden for an after_close poll that is not closed yet, for
    non-staff. Checked on the cached results, so it costs no database query."""
    return _refuse_unless_results_visible(rendered_results(poll_id), user)


def access_results_of_polls(poll_ids, user) -> dict[int, RenderedResults | Exception]:
    """access_results_by_user for each of several polls (a page of them), by poll id: its
    results, or what access_results_by_user would raise for it (unknown polls are
    Http404). Through the results cache, with at most one database statement for them
    all (results.rendered_results_of_polls)."""
    poll_ids = list(poll_ids)
    found = rendered_results_of_polls(poll_ids)
    answers: dict[int, RenderedResults | Exception] = {}
    for poll_id in poll_ids:
        try:
            answers[poll_id] = _refuse_unless_results_visible(found.get(poll_id), user)
        except (Http404, errors.ResultsHidden) as refused:
            answers[poll_id] = refused
    return answers


def _refuse_unless_results_visible(results: RenderedResults | None, user) -> RenderedResults:
    results = _refuse_unless_visible(results, user)
    hidden = results.results_visibility == ResultsVisibility.AFTER_CLOSE
    if hidden and results.status != "closed" and not user.is_staff:
        raise errors.ResultsHidden()
    return results


def results_timeline(poll_id, *, closed) -> dict[str, Any]:
    """The vote_timeline_mv snapshot for a poll in buckets of at least
    TIMELINE_MIN_BUCKET_VOTES votes, and when it was taken (no access check:
    access_results_by_user first). docs/privacy.md says why buckets, and why these."""
    minutes = list(
        VoteTimelineSnapshot.objects.filter(poll_id=poll_id)
        .order_by("minute", "option_id")
        .values_list("minute", "option_id", "votes")
        # cacheops adds QuerySet.cache() at run time.
        .cache()  # type: ignore[attr-defined]
    )
    snapshot = ResultsSnapshot.objects.filter(name=VoteTimelineSnapshot._meta.db_table)
    # cacheops adds QuerySet.cache() at run time.
    refreshed_at = snapshot.cache().values_list("refreshed_at", flat=True).first()  # type: ignore[attr-defined]
    buckets = timeline_buckets(
        minutes,
        k=settings.TIMELINE_MIN_BUCKET_VOTES,
        complete_before=_complete_before(refreshed_at),
        final=closed,
    )
    return {"poll_id": poll_id, "refreshed_at": refreshed_at, "buckets": buckets}


def _complete_before(refreshed_at):
    """Minutes that ended before this, as of the snapshot, can gain no vote: a vote's
    cast_at is when its statement began, and it commits within the transaction timeout."""
    if refreshed_at is None:
        return None
    margin = timedelta(milliseconds=settings.DB_TRANSACTION_TIMEOUT_MS or 60_000, seconds=1)
    return refreshed_at - margin


def timeline_buckets(minutes, *, k, complete_before, final):
    """Per-minute counts [(minute, option_id, votes)], in minute order, merged from the
    first minute on into buckets of at least k votes, each made of complete minutes only
    (ended before `complete_before`: a later one waits for the next snapshot); the
    minutes after the last full bucket are held back, or, when `final` (the poll is
    closed), merged into the last bucket. So a published bucket never changes, and
    none holds fewer than k votes unless it is the whole poll."""
    buckets, current = [], None
    for minute, option_id, votes in minutes:
        end = minute + timedelta(minutes=1)
        if complete_before is not None and end > complete_before:
            break
        if current is None or (current["total"] >= k and minute >= current["ends_at"]):
            if current is not None:
                buckets.append(current)
            current = {"starts_at": minute, "ends_at": end, "total": 0, "votes": {}}
        current["ends_at"] = max(current["ends_at"], end)
        current["total"] += votes
        current["votes"][option_id] = current["votes"].get(option_id, 0) + votes
    if current is not None:
        if current["total"] >= k:
            buckets.append(current)
        elif final and buckets:
            last = buckets[-1]
            last["ends_at"] = current["ends_at"]
            for option_id, votes in current["votes"].items():
                last["votes"][option_id] = last["votes"].get(option_id, 0) + votes
        elif final:
            buckets.append(current)
    return [
        {"starts_at": b["starts_at"], "ends_at": b["ends_at"], "option_id": option, "votes": n}
        for b in buckets
        for option, n in sorted(b["votes"].items())
    ]


def poll_events(poll) -> list[Any]:
    """The poll's lifecycle events, oldest first (no access check: access_poll_by_user)."""
    return list(poll.events.order_by("id"))


def events_of_polls(poll_ids) -> dict[int, list[PollEvent]]:
    """poll_events for several polls (a page of them), by poll id, in one query (no
    access check: the polls come from poll_list_visible_to or access_poll_by_user)."""
    events: dict[int, list[PollEvent]] = {poll_id: [] for poll_id in poll_ids}
    for event in PollEvent.objects.filter(poll_id__in=list(events)).order_by("id"):
        events[event.poll_id].append(event)
    return events
