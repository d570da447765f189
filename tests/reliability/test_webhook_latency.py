"""How long lifecycle events take from their moment to a receiver: 100 polls closing by
the clock in the same second, 3 workers, one endpoint on loopback."""

import json
import statistics
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from tests.support.jobs import workers
from tests.support.waiting import wait_for
from tests.support.webhooks import Receiver
from webhooks import services

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]
POLLS = 100


def job_states():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT task_name, status, count(*) FROM procrastinate_jobs GROUP BY 1, 2 ORDER BY 1, 2"
        )
        jobs = cursor.fetchall()
        cursor.execute("SELECT status, count(*) FROM webhooks_delivery GROUP BY 1")
        deliveries = cursor.fetchall()
        cursor.execute("SELECT status_code, error, count(*) FROM webhooks_attempt GROUP BY 1, 2")
        return jobs, deliveries, cursor.fetchall()


def test_a_hundred_polls_closing_together_reach_the_receiver(staff, make_poll, settings, figure):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    hooks = Receiver()
    try:
        services.endpoint_register(created_by=staff, url=hooks.url, events=["poll.closed"])
        polls = [make_poll(closes_in=timedelta(seconds=8)) for _ in range(POLLS)]
        closes_at = {p.pk: p.closes_at for p in polls}
        arrived = {}

        def record_arrivals():
            for headers, body in hooks.received[len(arrived) :]:
                payload = json.loads(body)
                arrived[headers["webhook-id"]] = (payload["data"]["poll_id"], datetime.now(UTC))
            return len(arrived) >= POLLS

        with workers(3, WEBHOOK_ALLOW_PRIVATE_TARGETS="true"):
            try:
                wait_for(record_arrivals, within=60)
            except AssertionError:
                raise AssertionError(
                    f"{len(arrived)} arrived of {len(hooks.received)} received; "
                    f"jobs, deliveries, attempts: {job_states()}"
                ) from None
        lags = sorted((at - closes_at[poll_id]).total_seconds() for poll_id, at in arrived.values())
    finally:
        hooks.close()
    assert len({poll_id for poll_id, _ in arrived.values()}) == POLLS  # each poll once
    p50 = statistics.median(lags)
    p99 = lags[int(len(lags) * 0.99) - 1]
    figure(
        "poll.closed, 100 polls at once, 3 workers",
        p50_s=round(p50, 3),
        p99_s=round(p99, 3),
        max_s=round(lags[-1], 3),
    )
