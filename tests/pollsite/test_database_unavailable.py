"""A database that cannot be reached answers 503 database_unavailable with Retry-After,
from the API (pollsite.problems) and from plain Django views (pollsite.middleware): a
real PostgreSQL of the test's own, really stopped."""

import os

import httpx
import pytest
from django.db import InterfaceError, OperationalError

from pollsite.db_backend.base import OutcomeUnknown
from pollsite.problems import exception_handler
from tests.support import stack


@pytest.fixture(scope="module")
def stopped_database():
    """An app server whose PostgreSQL answered once, then was stopped."""
    directory = stack.scratch_dir()
    postgres = stack.Postgres(directory).start()
    env = {**os.environ, "DATABASE_URL": postgres.url, "DB_CONNECT_TIMEOUT": "2"}
    postgres.migrate(env)
    server = stack.AppServer(env, log=directory / "app.log")
    try:
        assert httpx.get(f"{server.url}/api/v1/polls", timeout=10).status_code == 200
        postgres.stop()
        yield server
    finally:
        server.stop()
        postgres.stop()
        stack.remove(directory)


def assert_database_unavailable(response):
    assert response.status_code == 503, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "database_unavailable"
    assert int(response.headers["Retry-After"]) > 0
    assert "Traceback" not in response.text and "psycopg2" not in response.text


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/polls", None),
        ("GET", "/api/v1/polls/1", None),
        ("GET", "/api/v1/receipts/abc", None),
        ("POST", "/api/v1/auth/login", {"username": "alice", "password": "secret-pass"}),
        ("POST", "/api/v1/auth/register", {"username": "alice", "password": "a-long-pass-42"}),
        ("GET", "/polls/1/live", None),  # a plain Django view
    ],
)
def test_it_answers_503_while_the_database_is_down(stopped_database, method, path, body):
    response = httpx.request(method, stopped_database.url + path, json=body, timeout=15)
    assert_database_unavailable(response)


def test_it_says_so_on_readyz(stopped_database):
    response = httpx.get(f"{stopped_database.url}/readyz", timeout=15)
    assert response.status_code == 503
    assert "database" in response.json()["failing"]


@pytest.mark.parametrize(
    "error", [OperationalError("server closed the connection"), InterfaceError("closed")]
)
def test_it_maps_both_connection_errors_to_503(error):
    """InterfaceError is not a DatabaseError in Django's hierarchy; a connection that died
    mid-request raises it (seen under a SIGKILL of PostgreSQL, tests/reliability)."""
    response = exception_handler(error, {})
    assert response.status_code == 503
    assert response.data["code"] == "database_unavailable"
    assert response.headers["Retry-After"] == "5"


@pytest.mark.parametrize(
    ("method", "status", "code"),
    [
        ("POST", 504, "outcome_unknown"),
        ("DELETE", 504, "outcome_unknown"),
        ("GET", 503, "database_unavailable"),
    ],
)
def test_a_write_whose_answer_was_lost_is_outcome_unknown_not_503(rf, method, status, code):
    """The connection lost after the statement was sent (pollsite/db_backend): a write
    may have taken effect, so it is not told 503 ("not done"); a read simply failed."""
    lost = OutcomeUnknown("server closed the connection unexpectedly")
    response = exception_handler(lost, {"request": rf.generic(method, "/api/v1/polls")})
    assert response.status_code == status
    assert response.data["code"] == code
    assert response.headers["Retry-After"] == "5"


@pytest.mark.parametrize(
    ("query", "token"),
    [
        ("{ polls { totalCount } }", None),  # anonymous: the resolver's read
        ("{ polls { totalCount } }", "x" * 64),  # the token's lookup, before any resolver
        ('mutation { castVote(pollId: "1", optionId: "1") { receipt } }', "x" * 64),
    ],
)
def test_graphql_answers_503_while_the_database_is_down(stopped_database, query, token):
    """Not a 500, nor a 200 with nothing in it: 503 database_unavailable, Retry-After,
    and the error's extensions say so (a vote answered so was not counted)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(
        f"{stopped_database.url}/api/graphql", json={"query": query}, headers=headers, timeout=15
    )
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) > 0
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "database_unavailable", "status": 503, "retryAfter": 5}
    assert "psycopg2" not in response.text
