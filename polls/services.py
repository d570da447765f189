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
from polls.models import IdempotencyKey, Option, Poll, ResultsSnapshot, ResultsVisibility, Vote
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
) -> Poll:
    now = timezone.now()
    opens_at = opens_at or now
    _check_schedule(opens_at, closes_at)
    poll = Poll.objects.create(
        title=title,
        description=description,
        created_by=created_by,
        opens_at=opens_at,
        closes_at=closes_at,
        published_at=now if publish else None,
        results_visibility=results_visibility,
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
        %(key)s, %(request_hash)s, %(not_after)s
    )
"""


@dataclass(frozen=True)
class VoteReceipt:
    receipt: str
    poll_id: int
    cast_at: datetime


def vote_cast(*, credentials, poll_id, option_id, idempotency_key=None) -> VoteReceipt:
    """Cast the vote of the holder of a bearer token (identity.authentication's
    BearerCredentials): checking the token and casting the vote are one statement, and
    the database decides (no check-then-insert)."""
    receipt = secrets.token_urlsafe(18)  # 144 random bits
    request_hash = _request_hash(poll_id, option_id) if idempotency_key is not None else None
    params = {
        **credentials.lookup,
        "poll_id": poll_id,
        "option_id": option_id,
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
        raise
    if answer is None:
        raise invalid_token()
    _, verified, cast_at = answer
    if not verified:
        raise errors.NotVerified()
    _on_commit_results_changed(poll_id)
    return VoteReceipt(receipt, poll_id, cast_at)


def _request_hash(poll_id, option_id):
    return hashlib.sha256(f"{poll_id}:{option_id}".encode()).hexdigest()


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
    return VoteReceipt(vote.receipt, vote.poll_id, vote.cast_at)


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
