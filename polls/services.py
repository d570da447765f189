"""Writes for polls, options and votes. The database enforces the rules (see
polls/models.py); these functions shape requests into single statements and turn the
database's refusals into the contract's errors (polls/errors.py)."""

import hashlib
import secrets
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from cacheops import invalidate_model
from django.conf import settings
from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.db.models import Max
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from identity.authentication import invalid_token
from polls import errors, lifecycle
from polls.errors import SQLState
from polls.models import (
    BallotKind,
    IdempotencyKey,
    Option,
    Poll,
    ResultsSnapshot,
    ResultsVisibility,
    Vote,
)
from polls.notifier import notifier
from polls.results import results_cache
from polls.status import poll_status
from pollsite.problems import constraint_of, sqlstate_of

# --- Polls and options -------------------------------------------------------------------


@transaction.atomic
def poll_create(
    *,
    created_by,
    title,
    closes_at,
    options,
    description="",
    opens_at=None,
    publish=True,
    results_visibility=ResultsVisibility.LIVE,
    ballot_kind=BallotKind.SINGLE,
    min_choices=None,
    max_choices=None,
) -> Poll:
    now = timezone.now()
    opens_at = opens_at or now
    _check_schedule(opens_at, closes_at)
    min_choices, max_choices = _choice_bounds(
        ballot_kind, min_choices, max_choices, options=len(options)
    )
    poll = Poll.objects.create(
        title=title,
        description=description,
        created_by=created_by,
        opens_at=opens_at,
        closes_at=closes_at,
        published_at=now if publish else None,
        results_visibility=results_visibility,
        ballot_kind=ballot_kind,
        min_choices=min_choices,
        max_choices=max_choices,
    )
    Option.objects.bulk_create(
        Option(poll=poll, position=i, label=o["label"], description=o.get("description", ""))
        for i, o in enumerate(options)
    )
    if publish:
        lifecycle.published(poll)  # the event and the clock's jobs, in this transaction
    return poll


# Writes the triggers may refuse run in their own atomic block, so a refusal rolls back
# just this write (a savepoint, when a caller's transaction is open) and nothing after it
# runs in a broken transaction.


def poll_update(*, poll: Poll, **changes) -> Poll:
    _check_schedule(
        changes.get("opens_at", poll.opens_at),
        changes.get("closes_at", poll.closes_at),
        closes_at_changed="closes_at" in changes,
    )
    if {"ballot_kind", "min_choices", "max_choices"} & set(changes):
        kind = changes.setdefault("ballot_kind", poll.ballot_kind)
        kept = kind == poll.ballot_kind  # a new kind starts from its own defaults
        changes["min_choices"], changes["max_choices"] = _choice_bounds(
            kind,
            changes.get("min_choices", poll.min_choices if kept else None),
            changes.get("max_choices", poll.max_choices if kept else None),
            options=poll.options.count(),
        )
    _refuse_if_closed(poll)
    for field, value in changes.items():
        setattr(poll, field, value)
    with transaction.atomic():
        poll.save(update_fields=list(changes))  # poll_locked_once_voted refuses with votes
        if poll.published_at is not None and {"opens_at", "closes_at"} & set(changes):
            lifecycle.schedule(poll)  # the clock's jobs follow the new times
        _on_commit_results_changed(poll.pk)
    return poll


def poll_delete(*, poll) -> None:
    with transaction.atomic():
        poll_id = poll.pk
        poll.delete()  # poll_locked_once_voted / option_frozen_once_voted_or_closed decide
        _on_commit_results_changed(poll_id)


def option_add(*, poll, label, description="") -> Option:
    _refuse_if_closed(poll)
    try:
        with transaction.atomic():
            # Adds to one poll take turns on its row, so each reads the last position
            # after the one before it committed (else two get the same position).
            Poll.objects.select_for_update().filter(pk=poll.pk).values_list("pk").first()
            position = (poll.options.aggregate(last=Max("position"))["last"] or 0) + 1
            option = Option.objects.create(
                poll=poll, label=label, description=description, position=position
            )
            _on_commit_results_changed(poll.pk)
            return option
    except IntegrityError as exc:
        if constraint_of(exc) != "polls_option_unique_label":
            raise
        raise ValidationError(
            {"label": ["This poll already has an option with this label."]}
        ) from None


def poll_publish(*, poll: Poll) -> Poll:
    if poll.published_at is not None:
        raise errors.PollAlreadyPublished()
    poll.published_at = timezone.now()
    with transaction.atomic():
        poll.save(update_fields=["published_at"])
        lifecycle.published(poll)
        _on_commit_results_changed(poll.pk)
    return poll


def poll_close(*, poll: Poll) -> Poll:
    status = poll_status(poll)
    if status == "draft":
        raise errors.PollNotPublished()
    if status == "closed":
        raise errors.PollAlreadyClosed()
    poll.closed_at = timezone.now()
    with transaction.atomic():
        poll.save(update_fields=["closed_at"])
        lifecycle.closed_by_staff(poll)
        _on_commit_results_changed(poll.pk)
    return poll


def _check_schedule(opens_at, closes_at, *, closes_at_changed=True):
    """A poll closes after it opens (polls_poll_closes_after_opening holds that for any
    writer; this says which field is wrong), and a closing time set now is in the future."""
    if closes_at <= opens_at:
        raise ValidationError({"closes_at": ["Must be after opens_at."]})
    if closes_at_changed and closes_at <= timezone.now():
        raise ValidationError({"closes_at": ["Must be in the future."]})


def _choice_bounds(kind, min_choices, max_choices, *, options) -> tuple[int, int | None]:
    """(min_choices, max_choices) to store for a poll of this kind with this many options:
    a single ballot chooses one; the others 1 to all of the options by default (max_choices
    empty: as many as the poll has, options added later included). polls_poll_choice_bounds
    holds the same for any writer; this says which field is wrong."""
    if kind == BallotKind.SINGLE:
        for field, value in (("min_choices", min_choices), ("max_choices", max_choices)):
            if value not in (None, 1):
                raise ValidationError({field: ["A single-choice ballot chooses 1 option."]})
        return 1, 1
    least = 1 if min_choices is None else min_choices
    if least > options:
        raise ValidationError({"min_choices": [f"The poll has {options} options."]})
    if max_choices is not None and max_choices < least:
        raise ValidationError({"max_choices": ["Must be at least min_choices."]})
    if max_choices is not None and max_choices > options:
        raise ValidationError({"max_choices": [f"The poll has {options} options."]})
    return least, max_choices


def _refuse_if_closed(poll):
    if poll_status(poll) == "closed":
        raise errors.PollLocked("This poll is closed; it cannot change.")


# --- Votes ---------------------------------------------------------------------------------

# A vote is one call: polls_cast_vote (sql/polls_cast_vote.sql) checks the bearer token,
# inserts the vote (polls_vote_check and the constraints decide, polls_vote_count
# counts) and stores the Idempotency-Key in the same transaction. A key already taken
# (or being taken by a concurrent request, which this one then waits for) raises a
# unique violation on polls_idempotencykey_pkey, and the vote is rolled back with it.
CAST_VOTE = """
    SELECT user_id, verified, cast_at FROM polls_cast_vote(
        %(token_key)s, %(digest)s, %(poll_id)s, %(option_id)s, %(receipt)s,
        %(key)s, %(request_hash)s, %(not_after)s, %(choices)s, %(ranked)s
    )
"""
# What a ballot of each kind is sent as: the body's field, by the poll's ballot kind.
BALLOT_FIELDS: dict[str, str] = {
    BallotKind.SINGLE: "option_id",
    BallotKind.MULTIPLE: "option_ids",
    BallotKind.RANKED: "ranking",
}


@dataclass(frozen=True)
class VoteReceipt:
    receipt: str
    poll_id: int
    cast_at: datetime


def vote_cast(
    *,
    credentials,
    poll_id,
    option_id=None,
    option_ids=None,
    ranking=None,
    idempotency_key=None,
) -> VoteReceipt:
    """Cast the ballot of the holder of a bearer token (identity.authentication's
    BearerCredentials): one of `option_id` (a single ballot), `option_ids` (multiple) or
    `ranking` (ranked, most preferred first), as the poll's ballot kind takes. Checking
    the token and casting the ballot are one statement, and the database decides (no
    check-then-insert): its kind, its choices, its bounds."""
    receipt = secrets.token_urlsafe(18)  # 144 random bits
    choices = option_ids if option_ids is not None else ranking
    sent = "option_id" if option_id is not None else "option_ids" if ranking is None else "ranking"
    request_hash = None
    if idempotency_key is not None:
        request_hash = _request_hash(poll_id, option_id, sent=sent, choices=choices)
    params = {
        **credentials.lookup,
        "poll_id": poll_id,
        "option_id": option_id,
        "choices": choices,
        "ranked": ranking is not None,
        "receipt": receipt,
        "key": idempotency_key,
        "request_hash": request_hash,
        # Past this the database refuses the vote (settings, DB_VOTE_DEADLINE_SECONDS).
        "not_after": timezone.now() + timedelta(seconds=settings.DB_VOTE_DEADLINE_SECONDS),
    }
    try:
        # Outside a transaction the statement is its own (no BEGIN/COMMIT round trips);
        # inside a caller's, a savepoint keeps a refusal from poisoning it.
        with _savepoint_if_in_transaction(), connection.cursor() as cursor:
            cursor.execute(CAST_VOTE, params)
            answer = cursor.fetchone()
    except OperationalError:
        # Not a refusal of this vote but the database out of reach, slow or frozen: a
        # timeout, the deadline, no place at the gate, no connection (503: not counted),
        # or the connection lost after the vote was sent (OutcomeUnknown, 504: it may
        # have counted). Asking the database anything more would wait again.
        raise
    except DatabaseError as refused:
        # The token was good: the statement reached the INSERT. A retry must get the
        # first answer whatever refuses it now: the vote it repeats (already_voted), or
        # a poll that has closed since the first one went through.
        voter = credentials.user()
        first = _first_answer(voter, idempotency_key, request_hash) if idempotency_key else None
        if first is not None:
            return first
        if sqlstate_of(refused) == SQLState.POLL_DRAFT and voter.is_staff:
            raise errors.PollNotOpen("This poll is a draft.") from None
        if sqlstate_of(refused) == SQLState.WRONG_BALLOT_KIND:
            raise _wrong_ballot_kind(refused, sent) from None
        raise
    if answer is None:
        raise invalid_token()
    _, verified, cast_at = answer
    if not verified:
        raise errors.NotVerified()
    _on_commit_results_changed(poll_id)
    return VoteReceipt(receipt, poll_id, cast_at)


def _request_hash(poll_id, option_id, *, sent, choices):
    # A single ballot's as it was before ballot kinds, so stored keys still match.
    request = f"{poll_id}:{option_id}" if sent == "option_id" else f"{poll_id}:{sent}:{choices}"
    return hashlib.sha256(request.encode()).hexdigest()


def _wrong_ballot_kind(refused, sent) -> ValidationError:
    """The 400 for a body of another kind's shape: the poll's kind is the error's DETAIL."""
    kind = str(getattr(getattr(refused.__cause__, "diag", None), "message_detail", ""))
    takes = BALLOT_FIELDS.get(kind)
    message = f"This poll takes {kind} ballots: send `{takes}`." if takes else str(refused)
    return ValidationError({sent: [message]})


def _savepoint_if_in_transaction():
    return transaction.atomic() if connection.in_atomic_block else nullcontext()


def _first_answer(voter, key, request_hash) -> VoteReceipt | None:
    """The answer of the earlier request that stored this key, or None if none did."""
    stored = IdempotencyKey.objects.filter(user=voter, key=key).first()
    if stored is None:
        return None
    if stored.request_hash != request_hash:
        raise errors.IdempotencyKeyReused()
    vote = Vote.objects.get(receipt=stored.receipt)
    # The first request may never have been answered 201: its connection was lost (504),
    # or PostgreSQL made its commit on the primary alone, its wait for the synchronous
    # standby cancelled (504, pollsite/db_backend). Before this answer acknowledges the
    # vote, the standby holds it and the results cache is told of it, as after a 201.
    with connection.cursor() as cursor:
        cursor.execute(WAIT_FOR_STANDBY)
    _on_commit_results_changed(vote.poll_id)
    return VoteReceipt(vote.receipt, vote.poll_id, vote.cast_at)


# A statement whose commit waits for the synchronous standby, as a vote's does: it writes
# a WAL record in a transaction (a logical decoding message, which any role may emit and
# nothing here decodes), and WAL is one sequence, so once the standby has flushed it, it
# holds every commit before it. Taking a transaction ID alone (pg_current_xact_id()) is
# not enough: PostgreSQL waits only for commits that wrote WAL. The wait is bounded, and
# its cancellation read, as for a vote's commit (pollsite/db_backend: 504 outcome_unknown).
WAIT_FOR_STANDBY = "SELECT pg_logical_emit_message(true, 'pollsite.vote_replayed', '')"


def results_changed(poll_id):
    """After a vote on `poll_id`, or a change to the poll or its options, commits and
    before it is acknowledged: every later results read sees it, and the streams wake."""
    results_cache.changed([poll_id])
    notifier.poll_changed(poll_id)


def _on_commit_results_changed(poll_id):
    transaction.on_commit(partial(results_changed, poll_id))


# --- Snapshots and housekeeping (run by the job engine: polls/tasks.py) ---------------

SNAPSHOT_REFRESH_LIMIT_SECONDS = 300


def snapshot_refresh(snapshot) -> None:
    """REFRESH MATERIALIZED VIEW CONCURRENTLY (readers never wait), record when, and drop
    the cached reads of it. Raises DatabaseError if the refresh failed (nothing changed)."""
    started_at = timezone.now()  # the snapshot holds everything committed by then
    # A refresh scans what its view reads (every vote, for the timeline): longer limits
    # than a request's, on this connection only (pollsite/db_backend's DatabaseWrapper).
    connection.allow_long_statements(  # type: ignore[attr-defined]
        seconds=SNAPSHOT_REFRESH_LIMIT_SECONDS, lock_seconds=SNAPSHOT_REFRESH_LIMIT_SECONDS
    )
    try:
        snapshot.refresh(concurrently=True)
    finally:
        connection.reset_statement_limits()  # type: ignore[attr-defined]
    ResultsSnapshot.objects.update_or_create(
        name=snapshot._meta.db_table, defaults={"refreshed_at": started_at}
    )
    invalidate_model(snapshot)  # REFRESH happens behind the ORM's back


def idempotency_keys_purge(*, older_than: datetime) -> int:
    """Forget the Idempotency-Keys stored before `older_than` (IDEMPOTENCY_KEY_RETENTION_HOURS):
    a retry with one of them then answers as a new vote would, 409 already_voted, never a
    second count (the vote's own uniqueness decides that, not the key)."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=older_than).delete()
    return deleted
