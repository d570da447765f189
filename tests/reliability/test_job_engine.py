"""The job engine under real workers (`manage.py procrastinate worker` processes on the
test database): each periodic tick once however many workers run, and a job whose worker
is killed in the middle runs again."""

import os
import signal
import time

import pytest
from django.db import connection
from django.utils import timezone

from polls.models import ResultsSnapshot
from polls.tasks import refresh_timeline_snapshot
from tests.support.jobs import workers
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]


def jobs_of(task_name):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (args->>'timestamp')::bigint, status, attempts FROM procrastinate_jobs "
            "WHERE task_name = %s ORDER BY id",
            [task_name],
        )
        return cursor.fetchall()


def test_two_workers_run_every_periodic_tick_once(figure):
    started = timezone.now()
    with workers(2, RESULTS_REFRESH_SECONDS="1"):
        time.sleep(12)
    ticks = jobs_of("polls.tasks.refresh_results_snapshot")
    timestamps = [timestamp for timestamp, _, _ in ticks]
    assert len(timestamps) >= 8, ticks  # a tick a second, both workers deferring
    assert len(set(timestamps)) == len(timestamps), "a tick ran twice"
    # Every tick but one still under way when the workers stopped succeeded, at once.
    finished = [(status, attempts) for _, status, attempts in ticks if status != "todo"]
    assert finished.count(("succeeded", 1)) >= len(ticks) - 1, ticks
    refreshed = ResultsSnapshot.objects.get(name="poll_results_mv").refreshed_at
    assert refreshed > started
    figure("periodic ticks, 2 workers, 12 s", ticks=len(ticks), duplicates=0)


def test_a_job_whose_worker_is_killed_runs_again(figure):
    """SIGKILL a worker in the middle of a job: the job stays `doing` with a dead worker;
    once its heartbeats are STALLED_JOB_SECONDS late, retry_stalled_jobs queues it again
    and another worker runs it."""
    job_id = refresh_timeline_snapshot.defer(timestamp=0)
    # The refresh waits behind another refresh of the same view that this test holds
    # open (a materialized view cannot be LOCKed), so the job is under way when its
    # worker dies.
    connection.allow_long_statements(seconds=120, lock_seconds=120)
    connection.set_autocommit(False)
    connection.cursor().execute("REFRESH MATERIALIZED VIEW CONCURRENTLY vote_timeline_mv")
    try:
        with workers(1, STALLED_JOB_SECONDS="15") as [first]:
            wait_for(lambda: status_of(job_id) == "doing", within=30)
            os.kill(first.pid, signal.SIGKILL)
            first.wait(10)
    finally:
        connection.rollback()
        connection.set_autocommit(True)
        connection.reset_statement_limits()
    assert status_of(job_id) == "doing"  # nobody will finish it: its worker is dead
    killed_at = time.monotonic()
    with workers(1, STALLED_JOB_SECONDS="15"):
        wait_for(lambda: status_of(job_id) == "succeeded", within=60)
    figure("job after a SIGKILLed worker", rerun_after_s=round(time.monotonic() - killed_at, 1))


def status_of(job_id):
    with connection.cursor() as cursor:
        cursor.execute("SELECT status FROM procrastinate_jobs WHERE id = %s", [job_id])
        return cursor.fetchone()[0]
