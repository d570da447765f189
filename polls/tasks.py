"""The polls app's background work, on the job engine (procrastinate: jobs are rows in
PostgreSQL, taken by `manage.py procrastinate worker` with SKIP LOCKED and woken by
LISTEN). Periodic ticks are deduplicated in the database (procrastinate_periodic_defers,
unique per task and tick), so however many workers run, each tick runs once.

The schedule (docs/operations.md, "Background work"):
- refresh_results_snapshot   every RESULTS_REFRESH_SECONDS (5 s): poll_results_mv
- refresh_timeline_snapshot  every TIMELINE_REFRESH_SECONDS (60 s): vote_timeline_mv
                             (minute buckets; a scan of every vote, so not more often)
- purge_idempotency_keys     hourly: keys older than IDEMPOTENCY_KEY_RETENTION_HOURS
- retry_stalled_jobs         every 10 s: jobs whose worker died (SIGKILL, a lost host)
                             go back to the queue
and, per poll, at its opening and closing times and after its close, the lifecycle's
jobs, defined in polls/lifecycle.py with the events they record.
"""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from procrastinate.contrib.django import app

from polls import lifecycle, services
from polls.models import PollResultsSnapshot, VoteTimelineSnapshot

# The worker imports each app's tasks module: importing the lifecycle registers its jobs,
# defined there with the events they record.
LIFECYCLE_JOBS = (lifecycle.poll_clock, lifecycle.poll_results_final)


def every_seconds(seconds: float) -> str:
    """A cron (procrastinate's six fields, seconds last) for every `seconds` seconds: a
    divisor of 60 seconds, or a divisor of 60 minutes."""
    whole = int(seconds)
    if whole == seconds and 0 < whole < 60 and 60 % whole == 0:
        return f"* * * * * */{whole}"
    if whole == seconds and whole % 60 == 0 and 60 % (whole // 60) == 0:
        return f"*/{whole // 60} * * * *"
    raise ImproperlyConfigured(f"{seconds} s is no cron interval: use a divisor of 60 s or 60 min")


# queueing_lock: at most one waiting refresh; a tick that finds one waiting is skipped
# (the next refresh covers it), so a slow refresh never piles up a queue behind it.
@app.periodic(cron=every_seconds(settings.RESULTS_REFRESH_SECONDS), periodic_id="results")
@app.task(queue="snapshots", queueing_lock="refresh_results_snapshot")
def refresh_results_snapshot(timestamp: int) -> None:
    services.snapshot_refresh(PollResultsSnapshot)


@app.periodic(cron=every_seconds(settings.TIMELINE_REFRESH_SECONDS), periodic_id="timeline")
@app.task(queue="snapshots", queueing_lock="refresh_timeline_snapshot")
def refresh_timeline_snapshot(timestamp: int) -> None:
    services.snapshot_refresh(VoteTimelineSnapshot)


@app.periodic(cron="17 * * * *", periodic_id="idempotency-keys")
@app.task(queue="housekeeping", queueing_lock="purge_idempotency_keys")
def purge_idempotency_keys(timestamp: int) -> int:
    retention = timedelta(hours=settings.IDEMPOTENCY_KEY_RETENTION_HOURS)
    return services.idempotency_keys_purge(older_than=timezone.now() - retention)


@app.periodic(cron=every_seconds(10), periodic_id="stalled")
@app.task(queue="housekeeping", queueing_lock="retry_stalled_jobs")
async def retry_stalled_jobs(timestamp: int) -> int:
    """procrastinate's recipe: a job stays `doing` when its worker is killed; once the
    worker has missed its heartbeats for STALLED_JOB_SECONDS, the job is queued again."""
    stalled = list(
        await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=settings.STALLED_JOB_SECONDS)
    )
    for job in stalled:
        await app.job_manager.retry_job(job)
    return len(stalled)
