"""What a DBA in the polls_reader role can read, and what they are refused (sql/polls_reader.sql,
sql/polls_costly_statements.sql), and the comments `\\d+` shows (sql/tally_view_comments.sql).

Dana is a DBA: she logs in as a LOGIN member of polls_reader, on her own connection."""

import secrets

import psycopg2
import pytest
from django.conf import settings
from django.db import connection
from psycopg2 import errors

from tests.support.votes import options_of

pytestmark = pytest.mark.django_db(transaction=True)

READABLE = [
    "poll_results",
    "poll_results_version",
    "tally_audit",
    "ballot_tally_audit",
    "poll_results_mv",
    "vote_timeline_mv",
]
READABLE_TABLES = ["polls_resultssnapshot"]
REFUSED = [
    "identity_voteridentity",
    "auth_user",
    "knox_authtoken",
    "polls_vote",
    "polls_idempotencykey",
    "polls_optiontally",
    # A multiple or ranked ballot's options, and the rankings: a rare ranking can sign a
    # ballot (docs/privacy.md).
    "polls_choice",
    "polls_ballottally",
    "polls_rankingtally",
]


def _connect(**kw):
    db = settings.DATABASES["default"]
    return psycopg2.connect(
        host=db["HOST"], port=db["PORT"], dbname=db["NAME"], connect_timeout=5, **kw
    )


@pytest.fixture
def dana():
    """A cursor logged in as dana, a LOGIN member of polls_reader made as docs/dba.md says."""
    name, password = f"dana_{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {name} LOGIN PASSWORD %s IN ROLE polls_reader", [password])
    conn = _connect(user=name, password=password)
    conn.autocommit = True
    yield conn.cursor()
    conn.close()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP ROLE {name}")


def test_it_creates_polls_reader_as_a_group_that_cannot_log_in():
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = 'polls_reader'")
        assert cursor.fetchone() == (False, False)


def test_it_lets_dana_read_the_tallies(dana, make_poll, make_voter):
    poll = make_poll()
    response = make_voter("alice").post(
        f"/api/v1/polls/{poll.pk}/votes", {"option_id": options_of(poll)["Ada"]}, format="json"
    )
    assert response.status_code == 201
    for name in READABLE + READABLE_TABLES:
        dana.execute(f"SELECT * FROM {name} LIMIT 1")  # noqa: S608 - names from a constant
    dana.execute(
        "SELECT label, votes FROM poll_results WHERE poll_id = %s ORDER BY position", [poll.pk]
    )
    assert dana.fetchall() == [("Ada", 1), ("Grace", 0)]
    dana.execute("SELECT count(*) FROM tally_audit WHERE drift <> 0")
    assert dana.fetchone() == (0,)


@pytest.mark.parametrize("table", REFUSED)
def test_it_refuses_dana_identities_accounts_tokens_and_ballots(dana, table):
    with pytest.raises(errors.InsufficientPrivilege):
        dana.execute(f"SELECT * FROM {table} LIMIT 1")  # noqa: S608 - names from a constant


def test_it_refuses_dana_any_write(dana):
    with pytest.raises(errors.InsufficientPrivilege):
        dana.execute("DELETE FROM poll_results_mv")
    with pytest.raises(errors.InsufficientPrivilege):
        dana.execute("REFRESH MATERIALIZED VIEW poll_results_mv")


def _has_pg_stat_statements():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
        return cursor.fetchone() is not None


def test_it_shows_dana_the_costliest_statements_but_not_live_queries(dana, make_poll):
    if not _has_pg_stat_statements():
        pytest.skip("this server has no pg_stat_statements (see docs/dba.md)")
    make_poll()
    dana.execute("SELECT calls, total_ms, query FROM polls_costly_statements(50)")
    rows = dana.fetchall()
    assert rows
    assert any("polls_poll" in query for _, _, query in rows)
    # Without pg_read_all_stats, other sessions' live statements stay hidden.
    dana.execute("SELECT query FROM pg_stat_activity WHERE usename <> current_user AND query <> ''")
    assert {query for (query,) in dana.fetchall()} <= {"<insufficient privilege>"}


def test_it_refuses_the_statements_function_to_public(make_user):
    if not _has_pg_stat_statements():
        pytest.skip("this server has no pg_stat_statements (see docs/dba.md)")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT has_function_privilege('public', 'polls_costly_statements(integer)', 'EXECUTE')"
        )
        assert cursor.fetchone() == (False,)


def test_it_documents_every_view_and_column():
    """`\\d+` explains each view, materialized view and column: none lacks a comment."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, a.attname
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
            LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
                                    AND NOT a.attisdropped
            WHERE c.relkind IN ('v', 'm')
              AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
              AND (obj_description(c.oid, 'pg_class') IS NULL
                   OR col_description(c.oid, a.attnum) IS NULL)
            """
        )
        assert cursor.fetchall() == []
        cursor.execute(
            "SELECT count(*) FROM pg_class WHERE relkind IN ('v', 'm') AND relname = ANY(%s)",
            [READABLE],
        )
        assert cursor.fetchone() == (6,)


def test_it_lets_dana_follow_a_runoff_but_never_see_a_ranking(dana, make_poll, make_voter):
    poll = make_poll(labels=("Ada", "Grace"), ballot_kind="ranked")
    ada, grace = options_of(poll).values()
    for name, ranking in (("alice", [ada, grace]), ("bob", [grace])):
        response = make_voter(name).post(
            f"/api/v1/polls/{poll.pk}/votes", {"ranking": ranking}, format="json"
        )
        assert response.status_code == 201, response.content
    dana.execute("SELECT poll_runoff(%s)->'winner'", [poll.pk])
    assert dana.fetchone() is not None
    dana.execute(
        "SELECT counted, drift, rankings_drifted FROM ballot_tally_audit WHERE poll_id = %s",
        [poll.pk],
    )
    assert dana.fetchone() == (2, 0, 0)
    with pytest.raises(errors.InsufficientPrivilege):
        dana.execute("SELECT ranking FROM polls_rankingtally")
