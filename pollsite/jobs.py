"""Jobs deferred (and cancelled) in the caller's database transaction, in every process.

procrastinate's Django app defers through Django's connection, so in a request a job
commits or rolls back with the change that causes it. A worker replaces the app's
connector with its own pool (`manage.py procrastinate worker`: a psycopg 3 connection
outside Django's), so a job deferred by a job (a close's webhook deliveries, its
results_final) was committed at once, before the rows it names: another worker could run
it first, find no row, and drop it (a delivery left pending for good: 1 or 2 in 100 under
tests/reliability/test_webhook_latency.py). Through TRANSACTIONAL the insert goes
through Django's connection in either process, inside the caller's transaction.
"""

from procrastinate.contrib.django.django_connector import DjangoConnector
from procrastinate.jobs import JobDeferrer
from procrastinate.manager import JobManager

TRANSACTIONAL = JobManager(DjangoConnector())


def in_transaction(deferrer: JobDeferrer) -> JobDeferrer:
    """`task.configure(...)`'s job, to be inserted in the caller's transaction."""
    return JobDeferrer(job_manager=TRANSACTIONAL, job=deferrer.job)
