"""polls/status.py mirrors PostgreSQL's poll_status() (sql/poll_status.sql), the one
definition of a poll's status: the two agree at every boundary, and so do the list
filter and the vote check that ask the database."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import connection
from django.utils import timezone

from polls.status import closed_since, poll_status, status_until

NOW = timezone.now().replace(microsecond=0)
SECOND = timedelta(seconds=1)
OPENS, CLOSES = NOW - timedelta(hours=1), NOW + timedelta(hours=1)

# (published_at, closed_at, opens_at, closes_at): each boundary, on it and either side.
CASES = [
    (None, None, OPENS, CLOSES),
    (None, NOW - SECOND, OPENS, CLOSES),
    (OPENS, None, OPENS, CLOSES),
    (OPENS, None, NOW, CLOSES),
    (OPENS, None, NOW + SECOND, CLOSES),
    (OPENS, None, NOW - SECOND, CLOSES),
    (OPENS, None, OPENS, NOW),
    (OPENS, None, OPENS, NOW + SECOND),
    (OPENS, None, OPENS, NOW - SECOND),
    (OPENS, NOW - SECOND, OPENS, CLOSES),
    (OPENS, NOW - SECOND, NOW + SECOND, CLOSES),
    (NOW + SECOND, None, OPENS, CLOSES),
]


def sql_status(published_at, closed_at, opens_at, closes_at, as_of):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT poll_status(%s, %s, %s, %s, %s)",
            [published_at, closed_at, opens_at, closes_at, as_of],
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db
@pytest.mark.parametrize("times", CASES)
def test_python_says_what_postgresql_says(times):
    poll = SimpleNamespace(
        **dict(zip(("published_at", "closed_at", "opens_at", "closes_at"), times, strict=True))
    )
    assert poll_status(poll, NOW) == sql_status(*times, NOW)


@pytest.mark.django_db
@pytest.mark.parametrize("times", CASES)
def test_the_status_holds_until_status_until_and_changes_there(times):
    poll = SimpleNamespace(
        **dict(zip(("published_at", "closed_at", "opens_at", "closes_at"), times, strict=True))
    )
    until = status_until(poll, NOW)
    now_status = sql_status(*times, NOW)
    if until is None:
        assert now_status == sql_status(*times, NOW + timedelta(days=3650))
    else:
        assert sql_status(*times, until - timedelta(microseconds=1)) == now_status
        assert sql_status(*times, until) != now_status


def test_a_poll_closed_early_closed_then_one_closed_by_the_clock_at_its_time():
    early = SimpleNamespace(
        published_at=OPENS, closed_at=NOW - SECOND, opens_at=OPENS, closes_at=CLOSES
    )
    by_clock = SimpleNamespace(
        published_at=OPENS, closed_at=None, opens_at=OPENS - SECOND, closes_at=OPENS
    )
    still_open = SimpleNamespace(
        published_at=OPENS, closed_at=None, opens_at=OPENS, closes_at=CLOSES
    )
    assert closed_since(early) == NOW - SECOND
    assert closed_since(by_clock) == OPENS
    assert closed_since(still_open) is None


@pytest.mark.django_db
def test_the_list_filter_asks_the_database(auth_api, make_poll):
    open_poll = make_poll(title="Open now")
    make_poll(title="Later", opens_in=timedelta(hours=1))
    answer = auth_api("alice").get("/api/v1/polls?status=open")
    assert [poll["id"] for poll in answer.json()["results"]] == [open_poll.pk]
    assert answer.json()["results"][0]["status"] == "open"
