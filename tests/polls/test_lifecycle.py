"""A poll's lifecycle events (polls/lifecycle.py): recorded in the transaction that makes
them true, each once, and the jobs for the poll's times deferred with them. The jobs run
under real workers in tests/reliability/test_lifecycle_jobs.py."""

import time
from datetime import timedelta

import pytest
from django.db import connection, transaction

from polls import lifecycle, services
from polls.models import Poll, PollEvent

pytestmark = pytest.mark.django_db


def events_of(poll):
    return list(PollEvent.objects.filter(poll=poll).values_list("type", flat=True))


def waiting_jobs(poll):
    """{event: scheduled_at} of the poll's lifecycle jobs still to run."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT queueing_lock, scheduled_at FROM procrastinate_jobs "
            "WHERE queueing_lock LIKE %s AND status = 'todo'",
            [f"poll-{poll.pk}-%"],
        )
        return {lock.split("-", 2)[2]: at for lock, at in cursor.fetchall()}


def test_a_poll_published_open_has_both_events_and_a_closing_job(staff, make_poll):
    poll = make_poll()
    assert events_of(poll) == ["poll.published", "poll.opened"]
    assert waiting_jobs(poll) == {"poll.closed": poll.closes_at}


def test_a_scheduled_poll_waits_for_its_opening_job(staff, make_poll):
    poll = make_poll(opens_in=timedelta(hours=1), closes_in=timedelta(hours=2))
    assert events_of(poll) == ["poll.published"]
    assert waiting_jobs(poll) == {"poll.opened": poll.opens_at, "poll.closed": poll.closes_at}


def test_a_draft_has_no_event_until_published(staff, make_poll, api):
    poll = make_poll(publish=False)
    assert events_of(poll) == [] and waiting_jobs(poll) == {}
    services.poll_publish(poll=poll)
    assert events_of(poll) == ["poll.published", "poll.opened"]


def test_moving_closes_at_moves_its_job(staff, make_poll):
    poll = make_poll()
    later = poll.closes_at + timedelta(days=1)
    services.poll_update(poll=poll, closes_at=later)
    assert waiting_jobs(poll) == {"poll.closed": later}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE queueing_lock = %s "
            "AND status = 'cancelled'",
            [f"poll-{poll.pk}-poll.closed"],
        )
        assert cursor.fetchone()[0] == 1  # the old one


def test_a_close_records_its_event_and_schedules_the_final_results(staff, make_poll):
    poll = make_poll()
    services.poll_close(poll=poll)
    assert events_of(poll) == ["poll.published", "poll.opened", "poll.closed"]
    assert PollEvent.objects.get(poll=poll, type="poll.closed").data == {"by": "staff"}
    assert set(waiting_jobs(poll)) == {"poll.results_final"}  # the clock's close: cancelled


def test_a_close_rolled_back_leaves_no_event_and_no_job(staff, make_poll):
    poll = make_poll()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.poll_close(poll=Poll.objects.get(pk=poll.pk))
        raise RuntimeError("the caller's transaction fails after the close")
    assert events_of(poll) == ["poll.published", "poll.opened"]
    assert waiting_jobs(poll) == {"poll.closed": poll.closes_at}


def test_each_event_is_recorded_once(staff, make_poll):
    poll = make_poll()
    assert not lifecycle.record(poll.pk, "poll.published")
    lifecycle.clock_reached(poll.pk, "poll.opened")  # a job run twice, or late
    assert events_of(poll) == ["poll.published", "poll.opened"]


def test_a_clock_job_for_a_time_since_moved_does_nothing(staff, make_poll):
    poll = make_poll()
    lifecycle.clock_reached(poll.pk, "poll.closed")  # closes_at is a day away
    assert "poll.closed" not in events_of(poll)


def test_the_api_lists_a_polls_events(api, staff, make_poll):
    poll = make_poll()
    body = api.get(f"/api/v1/polls/{poll.pk}/events").json()
    assert [e["type"] for e in body] == ["poll.published", "poll.opened"]
    assert body[0]["data"] == {} and body[0]["occurred_at"]
    draft = make_poll(publish=False)
    assert api.get(f"/api/v1/polls/{draft.pk}/events").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_in_a_worker_a_clock_job_rolled_back_leaves_no_event_and_no_job(staff, make_poll, settings):
    """A worker's app defers through its own pool (manage.py procrastinate worker); the
    jobs a job defers (results_final, the webhook deliveries) must still go in that
    job's transaction (pollsite/jobs.py), or they outlive a rollback and can run before
    the rows they name exist."""
    from procrastinate.contrib.django import app

    from webhooks import services as webhooks

    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    webhooks.endpoint_register(
        created_by=staff, url="http://127.0.0.1:9/hooks", events=["poll.closed"]
    )
    poll = make_poll(closes_in=timedelta(seconds=1))
    time.sleep(1.2)
    with app.replace_connector(app.connector.get_worker_connector()) as worker_app:
        worker_app.open()
        try:
            with pytest.raises(RuntimeError), transaction.atomic():
                lifecycle.clock_reached(poll.pk, "poll.closed")
                assert "poll.closed" in events_of(poll)
                raise RuntimeError("the job fails after recording the close")
        finally:
            worker_app.close()
    assert "poll.closed" not in events_of(poll)
    assert "poll.results_final" not in waiting_jobs(poll)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM procrastinate_jobs WHERE task_name LIKE 'webhooks.%'")
        assert cursor.fetchone() == (0,)
