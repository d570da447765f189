"""The database's own guarantees, asserted through the ORM and raw SQL: each trigger and
constraint raises its SQLSTATE inside transaction.atomic(), so a trigger that silently
stopped firing fails here."""

import secrets
import subprocess
import sys
from datetime import timedelta

import pgtrigger
import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from polls.errors import SQLState
from polls.models import Option, OptionTally, Poll, Vote
from tests.support.votes import insert_vote, options_of

pytestmark = pytest.mark.django_db


def assert_refused(sqlstate, action):
    with pytest.raises(DatabaseError) as caught, transaction.atomic():
        action()
    assert caught.value.__cause__.pgcode == sqlstate, caught.value


def test_it_counts_a_vote_in_the_same_transaction(make_poll):
    poll = make_poll()
    ada = options_of(poll)["Ada"]
    insert_vote(poll.pk, ada)
    assert sum(OptionTally.objects.filter(option_id=ada).values_list("votes", flat=True)) == 1


def test_it_counts_only_inserted_votes_when_an_import_skips_duplicates(make_poll):
    """`INSERT ... ON CONFLICT DO NOTHING` runs BEFORE triggers even for rows it then
    skips, so a counter bumped in a BEFORE trigger would count the skipped duplicate
    (bench/sql/one_trigger.sql did). The counters must still equal the ballots."""
    poll = make_poll()
    ada, voter_key = options_of(poll)["Ada"], secrets.token_bytes(32)
    with connection.cursor() as cursor:
        for receipt in ("first", "second"):
            cursor.execute(
                "INSERT INTO polls_vote (poll_id, option_id, voter_key, receipt) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [poll.pk, ada, voter_key, receipt],
            )
        cursor.execute(
            "SELECT counted, ballots, drift FROM tally_audit WHERE option_id = %s", [ada]
        )
        assert cursor.fetchone() == (1, 1, 0)


def test_it_sets_cast_at_from_the_database_clock(make_poll):
    poll = make_poll()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO polls_vote (poll_id, option_id, voter_key, receipt, cast_at) "
            "VALUES (%s, %s, %s, 'r1', '2000-01-01') RETURNING cast_at, now()",
            [poll.pk, options_of(poll)["Ada"], secrets.token_bytes(32)],
        )
        cast_at, now = cursor.fetchone()
    assert cast_at == now


def test_it_refuses_an_option_of_another_poll(make_poll):
    poll, other = make_poll(), make_poll(labels=("X", "Y"))
    assert_refused(SQLState.INVALID_OPTION, lambda: insert_vote(poll.pk, options_of(other)["X"]))
    assert_refused(SQLState.INVALID_OPTION, lambda: insert_vote(poll.pk, 10**12))


def test_it_refuses_unknown_polls_and_drafts(make_poll):
    draft = make_poll(publish=False)
    assert_refused(SQLState.POLL_NOT_FOUND, lambda: insert_vote(10**12, 1))
    assert_refused(SQLState.POLL_DRAFT, lambda: insert_vote(draft.pk, options_of(draft)["Ada"]))


@pytest.mark.parametrize("when", ["scheduled", "past_closes_at", "closed_early"])
def test_it_refuses_a_poll_that_is_not_open(make_poll, when):
    if when == "scheduled":
        poll = make_poll(opens_in=timedelta(hours=1))
    else:
        poll = make_poll()
        field = "closes_at" if when == "past_closes_at" else "closed_at"
        Poll.objects.filter(pk=poll.pk).update(**{field: timezone.now() - timedelta(seconds=1)})
    assert_refused(SQLState.POLL_NOT_OPEN, lambda: insert_vote(poll.pk, options_of(poll)["Ada"]))


def test_it_refuses_two_votes_with_one_voter_key_in_a_poll(make_poll):
    """Independent of identity's one-account-per-number rule: the votes table itself."""
    poll = make_poll()
    key = secrets.token_bytes(32)
    insert_vote(poll.pk, options_of(poll)["Ada"], key)
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        insert_vote(poll.pk, options_of(poll)["Grace"], key)
    assert caught.value.__cause__.diag.constraint_name == "polls_vote_one_per_voter"
    insert_vote(make_poll().pk, Option.objects.order_by("-id").first().pk, key)  # other poll: ok


def test_it_keeps_votes_append_only(make_poll):
    poll = make_poll()
    insert_vote(poll.pk, options_of(poll)["Ada"])
    assert_refused(
        SQLState.VOTE_IMMUTABLE, lambda: Vote.objects.update(option_id=options_of(poll)["Grace"])
    )
    assert_refused(SQLState.VOTE_IMMUTABLE, lambda: Vote.objects.all().delete())


def test_it_lets_only_votes_write_the_counters(make_poll):
    poll = make_poll()
    insert_vote(poll.pk, options_of(poll)["Ada"])
    assert_refused(SQLState.VOTE_IMMUTABLE, lambda: OptionTally.objects.update(votes=100))
    assert_refused(SQLState.VOTE_IMMUTABLE, lambda: OptionTally.objects.all().delete())


def test_it_freezes_options_once_a_poll_has_votes(make_poll):
    poll = make_poll()
    ada = Option.objects.get(pk=options_of(poll)["Ada"])
    insert_vote(poll.pk, ada.pk)
    ada.label = "Ada Lovelace"
    assert_refused(SQLState.POLL_LOCKED, ada.save)
    assert_refused(SQLState.POLL_LOCKED, ada.delete)
    assert_refused(
        SQLState.POLL_LOCKED, lambda: Option.objects.create(poll=poll, label="Late", position=9)
    )


def test_it_freezes_options_of_a_closed_poll(make_poll):
    poll = make_poll()
    Poll.objects.filter(pk=poll.pk).update(closed_at=timezone.now())
    assert_refused(
        SQLState.POLL_LOCKED, lambda: Option.objects.create(poll=poll, label="Late", position=9)
    )


def test_it_refuses_to_delete_or_change_a_poll_with_votes(make_poll):
    poll = make_poll()
    insert_vote(poll.pk, options_of(poll)["Ada"])
    assert_refused(SQLState.POLL_LOCKED, lambda: Poll.objects.filter(pk=poll.pk).delete())
    assert_refused(
        SQLState.POLL_LOCKED, lambda: Poll.objects.filter(pk=poll.pk).update(title="Rigged")
    )
    Poll.objects.filter(pk=poll.pk).update(closed_at=timezone.now())  # an early close is fine


def test_it_deletes_a_poll_without_votes_even_when_closed(make_poll):
    poll = make_poll()
    Poll.objects.filter(pk=poll.pk).update(closed_at=timezone.now())
    Poll.objects.get(pk=poll.pk).delete()
    assert not Option.objects.filter(poll_id=poll.pk).exists()


def test_it_lists_every_pgtrigger_trigger_as_installed():
    result = subprocess.run(
        [sys.executable, "manage.py", "pgtrigger", "ls"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env_for_test_database(),
    )
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 7, result.stdout
    assert all(
        "INSTALLED" in line and "ENABLED" in line and "UNINSTALLED" not in line for line in lines
    ), result.stdout


def test_it_installs_the_vote_path_triggers_from_sql():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'polls_vote'::regclass "
            "AND NOT tgisinternal ORDER BY tgname"
        )
        names = [row[0] for row in cursor.fetchall()]
    assert "polls_vote_check" in names and "polls_vote_count" in names


def test_it_reports_drift_only_when_counters_and_ballots_disagree(make_poll):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    poll = make_poll()
    insert_vote(poll.pk, options_of(poll)["Ada"])
    call_command("audit_tally")
    with pgtrigger.ignore("polls.OptionTally:tally_written_by_votes_only"):
        OptionTally.objects.filter(poll=poll).update(votes=5)
    with pytest.raises(CommandError, match="drift"):
        call_command("audit_tally")


@pytest.mark.django_db(transaction=True)
def test_it_migrates_to_zero_and_back():
    def migrate(*args):
        result = subprocess.run(
            [sys.executable, "manage.py", "migrate", *args, "-v", "0"],
            capture_output=True,
            text=True,
            timeout=120,
            env=_env_for_test_database(),
        )
        assert result.returncode == 0, result.stderr

    migrate("polls", "zero")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT to_regclass('polls_vote'), to_regclass('tally_audit'), "
            "to_regclass('vote_timeline_mv')"
        )
        assert cursor.fetchone() == (None, None, None)
    migrate()
    test_it_installs_the_vote_path_triggers_from_sql()
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('poll_results_mv'), to_regclass('vote_timeline_mv')")
        assert None not in cursor.fetchone()


def _env_for_test_database():
    import os

    from django.conf import settings

    db = settings.DATABASES["default"]
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {**os.environ, "DATABASE_URL": url}


def test_it_bounds_descriptions_in_the_database(make_poll):
    poll = make_poll()
    option = poll.options.first()
    assert_refused("23514", lambda: Poll.objects.filter(pk=poll.pk).update(description="x" * 5001))
    assert_refused(
        "23514", lambda: Option.objects.filter(pk=option.pk).update(description="x" * 1001)
    )
    Poll.objects.filter(pk=poll.pk).update(description="x" * 5000)
    Option.objects.filter(pk=option.pk).update(description="x" * 1000)


def test_staff_writes_look_up_a_polls_ballots_without_scanning_every_ballot(make_poll):
    """The freeze triggers ask "has this poll ballots?" under a lock that holds every vote
    back. Once one poll holds most ballots, the cached generic plan of that EXISTS (it
    cannot see which poll) scanned them all: a second per new poll at 1,000,000 ballots.
    Planned for the poll's id, it is an index lookup, whatever the plan cache does (more
    than five calls in one session: PostgreSQL switches a function's statement to the
    generic plan after five)."""
    crowded = make_poll()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO polls_vote (poll_id, option_id, voter_key, receipt)"
            " SELECT %s, %s, decode(md5(i::text), 'hex') || decode(md5(i::text), 'hex'),"
            " md5(i::text) FROM generate_series(1, 3000) AS i",
            [crowded.pk, options_of(crowded)["Ada"]],
        )
        cursor.execute("ANALYZE polls_vote")
        quiet = [make_poll(title=f"Quiet {i}") for i in range(8)]
        scans_before = sequential_scans_of_ballots(cursor)
        for poll in quiet:  # each new option asks, and so does each change of its poll
            Option.objects.create(poll=poll, label="Late", position=9)
            Poll.objects.filter(pk=poll.pk).update(title=f"{poll.title}, renamed")
        assert sequential_scans_of_ballots(cursor) == scans_before


def sequential_scans_of_ballots(cursor):
    """This transaction's sequential scans of polls_vote, so far."""
    cursor.execute("SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'polls_vote'")
    return cursor.fetchone()[0]
