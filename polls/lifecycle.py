"""A poll's lifecycle events (polls.models.PollEvent), each recorded once: in the
transaction that makes it true, or by a job the engine runs at the poll's time.

- poll.published: by poll_create (publish=True) and poll_publish, in their transaction.
- poll.opened: then too when the poll opens at once; else by the job scheduled at
  opens_at (polls.tasks.poll_clock).
- poll.closed: by poll_close, in its transaction (`by: staff`); else by the job scheduled
  at closes_at (`by: clock`, occurred_at the closing time itself).
- poll.results_final: by a job RESULTS_FINAL_DELAY_SECONDS after the close: the final
  tally, and the receipt ledger's count and digest. The delay outlasts any transaction
  (transaction_timeout, 10 s): a vote whose insert passed the open check just before the
  close has committed or failed by then, so the tally it reads is final.

The jobs (poll_clock, poll_results_final, defined here with what they do) are deferred
in the same transaction as the change that schedules them, so a change rolled back leaves
none; when staff move opens_at or closes_at, the waiting job is cancelled and another
deferred for the new time. A job checks the poll again when it runs (by the database's
clock), so one that was not cancelled in time does nothing.

Other apps follow the events through `event_recorded`, a Django signal sent in the
transaction that records each one (webhooks connects its fan-out in WebhooksConfig.ready):
this app never names them.
"""

import json
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.dispatch import Signal
from django.utils import timezone
from procrastinate import RetryStrategy
from procrastinate.contrib.django import app

from polls.audit import ledger_summary
from polls.models import Poll, PollEvent
from polls.results import rendered_results
from polls.status import PollStatus
from pollsite.jobs import TRANSACTIONAL, in_transaction

Type = PollEvent.Type

# Sent with `event` (a PollEvent) in the transaction that records it, once per event.
# Receivers run in that transaction: what they write commits or rolls back with the event,
# and an error of theirs rolls the event back (send, not send_robust: a webhook delivery
# must never be missing from a committed event).
event_recorded = Signal()

# A lifecycle job that failed (the database away) is tried again: 2, 4, 8 ... s apart,
# about nine hours in all before it is left failed.
LIFECYCLE_RETRY = RetryStrategy(max_attempts=14, exponential_wait=2)


def record(poll_id, type_, *, at=None, data=None) -> bool:
    """Record an event unless the poll has it already, and tell event_recorded's
    receivers (in the same transaction); whether this recorded it."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO polls_pollevent (poll_id, type, occurred_at, data) "
            "VALUES (%s, %s, COALESCE(%s, now()), %s) "
            "ON CONFLICT ON CONSTRAINT polls_pollevent_once DO NOTHING RETURNING id",
            [poll_id, type_, at, json.dumps(data or {})],
        )
        row = cursor.fetchone()
        if row is None:
            return False
        event_recorded.send(sender=PollEvent, event=PollEvent.objects.get(pk=row[0]))
        return True


def published(poll: Poll) -> None:
    """In the publishing transaction: the event, and the clock's jobs."""
    record(poll.pk, Type.PUBLISHED)
    schedule(poll)


def schedule(poll: Poll) -> None:
    """In the caller's transaction: the jobs at the poll's opening and closing times, in
    place of any waiting ones (staff moved a time). A time already past is recorded now."""
    now = timezone.now()
    for event, at in ((Type.OPENED, poll.opens_at), (Type.CLOSED, poll.closes_at)):
        lock = f"poll-{poll.pk}-{event}"
        _cancel_waiting(lock)
        if at <= now:
            if event == Type.OPENED:
                record(poll.pk, Type.OPENED, at=at)
            continue
        in_transaction(poll_clock.configure(schedule_at=at, queueing_lock=lock)).defer(
            poll_id=poll.pk, event=str(event)
        )


def closed_by_staff(poll: Poll) -> None:
    """In poll_close's transaction."""
    _cancel_waiting(f"poll-{poll.pk}-{Type.CLOSED}")
    if record(poll.pk, Type.CLOSED, at=poll.closed_at, data={"by": "staff"}):
        _schedule_final(poll.pk)


def clock_reached(poll_id, event) -> None:
    """The job at a poll's time: record the event if the poll, read now, says it is due
    (by poll_status at the database's clock: opened, or for the close, closed by the
    clock and not by staff already). A job for a time since moved finds it not due and
    does nothing."""
    due = Poll.objects.select_for_update().filter(pk=poll_id).alias(status=PollStatus())
    with transaction.atomic():
        if event == Type.OPENED:
            poll = due.filter(status__in=("open", "closed")).first()
            if poll is not None:
                record(poll_id, Type.OPENED, at=poll.opens_at)
        elif event == Type.CLOSED:
            poll = due.filter(status="closed", closed_at__isnull=True).first()
            if poll is not None:
                record(poll_id, Type.OPENED, at=poll.opens_at)  # if its own job never ran
                if record(poll_id, Type.CLOSED, at=poll.closes_at, data={"by": "clock"}):
                    _schedule_final(poll_id)


def results_final(poll_id) -> None:
    """The job after a close: the final tally (the results as any reader gets them, never
    older than an acknowledged vote) and the ledger's count and digest."""
    results = rendered_results(poll_id)
    if results is None:
        return
    data = {"results": json.loads(results.body), "ledger": ledger_summary(poll_id)}
    record(poll_id, Type.RESULTS_FINAL, data=data)


def _schedule_final(poll_id) -> None:
    at = timezone.now() + timedelta(seconds=settings.RESULTS_FINAL_DELAY_SECONDS)
    # From the close's job too, in a worker: in_transaction (pollsite/jobs.py says why).
    in_transaction(
        poll_results_final.configure(
            schedule_at=at, queueing_lock=f"poll-{poll_id}-{Type.RESULTS_FINAL}"
        )
    ).defer(poll_id=poll_id)


def _cancel_waiting(queueing_lock) -> None:
    for job in TRANSACTIONAL.list_jobs(queueing_lock=queueing_lock, status="todo"):
        if job.id is not None:  # a listed job always has one
            TRANSACTIONAL.cancel_job_by_id(job.id)


# --- The jobs, deferred for a poll's times in the transaction that sets them; each checks
# the poll again when it runs. (Named polls.tasks.* until 1.1: the aliases let a worker
# run the jobs queued under those names.)


@app.task(queue="lifecycle", retry=LIFECYCLE_RETRY, aliases=["polls.tasks.poll_clock"])
def poll_clock(poll_id: int, event: str) -> None:
    clock_reached(poll_id, event)


@app.task(queue="lifecycle", retry=LIFECYCLE_RETRY, aliases=["polls.tasks.poll_results_final"])
def poll_results_final(poll_id: int) -> None:
    results_final(poll_id)
