"""pg_dump of a database with votes, pg_restore into a new database: the copy still
refuses a second vote and a vote on a closed poll, and its tally matches."""

import secrets
import subprocess

import psycopg2
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from devstack.postgres import pg_bin
from polls.models import Poll
from tests.support.votes import insert_vote, options_of

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]


def test_it_restores_a_dump_with_every_rule_intact(make_poll, scratch, figure):
    poll, closed = make_poll(), make_poll(title="Closed")
    ada, grace = options_of(poll).values()
    keys = [secrets.token_bytes(32) for _ in range(50)]
    for i, key in enumerate(keys):
        insert_vote(poll.pk, ada if i % 3 else grace, key)
    insert_vote(closed.pk, options_of(closed)["Ada"])
    Poll.objects.filter(pk=closed.pk).update(closed_at=timezone.now())
    db = settings.DATABASES["default"]
    conn_args = ["-h", db["HOST"], "-p", str(db["PORT"]), "-U", db["USER"]]
    dump = scratch / "polls.dump"
    subprocess.run([pg_bin("pg_dump"), *conn_args, "-Fc", "-f", str(dump), db["NAME"]], check=True)
    copy = f"restored_{secrets.token_hex(4)}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{copy}"')
    try:
        subprocess.run(
            [pg_bin("pg_restore"), *conn_args, "--no-owner", "-d", copy, str(dump)],
            check=True,
        )
        checks = check_copy(db, copy, poll, closed, ada, keys[0])
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
    figure("dump_restore", dump_bytes=dump.stat().st_size, votes=51, **checks)
    assert checks == {
        "second_vote": "23505",
        "closed_poll": "PV002",
        "foreign_option": "PV001",
        "vote_update": "PV004",
        "tally_matches": True,
        "drift": 0,
    }


def check_copy(db, name, poll, closed, ada, used_key):
    conn = psycopg2.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=name)
    conn.autocommit = True
    checks = {}
    attempts = {
        "second_vote": ("INSERT INTO polls_vote (poll_id, option_id, voter_key, receipt) "
                        "VALUES (%s, %s, %s, 'r1')", [poll.pk, ada, used_key]),
        "closed_poll": ("INSERT INTO polls_vote (poll_id, option_id, voter_key, receipt) "
                        "VALUES (%s, %s, %s, 'r2')",
                        [closed.pk, options_of(closed)["Ada"], secrets.token_bytes(32)]),
        "foreign_option": ("INSERT INTO polls_vote (poll_id, option_id, voter_key, receipt) "
                           "VALUES (%s, %s, %s, 'r3')",
                           [closed.pk, ada, secrets.token_bytes(32)]),
        "vote_update": ("UPDATE polls_vote SET option_id = option_id", []),
    }  # fmt: skip
    with conn.cursor() as cursor:
        for what, (sql, params) in attempts.items():
            try:
                cursor.execute(sql, params)
                checks[what] = "accepted"
            except psycopg2.Error as exc:
                checks[what] = exc.pgcode
        cursor.execute(
            "SELECT option_id, count(*) FROM polls_vote WHERE poll_id = %s GROUP BY 1 ORDER BY 1",
            [poll.pk],
        )
        ballots = cursor.fetchall()
        cursor.execute(
            "SELECT option_id, SUM(votes) FROM polls_optiontally WHERE poll_id = %s "
            "GROUP BY 1 ORDER BY 1",
            [poll.pk],
        )
        counters = [(o, int(n)) for o, n in cursor.fetchall()]
        cursor.execute("SELECT COALESCE(SUM(ABS(drift)), 0) FROM tally_audit")
        checks["tally_matches"] = ballots == counters and sum(n for _, n in ballots) == 50
        checks["drift"] = cursor.fetchone()[0]
    conn.close()
    return checks
