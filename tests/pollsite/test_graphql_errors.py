"""Errors in the contract's terms (pollsite/graphql/errors.py): what a resolver raises
reads as REST answers it, the database's outages included."""

from django.db import OperationalError
from graphql import GraphQLError

from polls import errors as polls_errors
from pollsite.db_backend.base import OutcomeUnknown
from pollsite.graphql.errors import formatted


def extensions(exc, *, writes):
    return formatted(GraphQLError(str(exc), original_error=exc), writes=writes)["extensions"]


def test_a_lost_answer_is_outcome_unknown_for_a_mutation_and_unavailable_for_a_query():
    lost = OutcomeUnknown("server closed the connection")
    assert extensions(lost, writes=True) == {
        "code": "outcome_unknown",
        "status": 504,
        "retryAfter": 5,
    }
    assert extensions(lost, writes=False) == {
        "code": "database_unavailable",
        "status": 503,
        "retryAfter": 5,
    }


def test_a_refused_connection_is_503_not_counted():
    assert extensions(OperationalError("connection refused"), writes=True) == {
        "code": "database_unavailable",
        "status": 503,
        "retryAfter": 5,
    }


def test_a_problem_keeps_its_code_and_detail():
    error = formatted(GraphQLError("x", original_error=polls_errors.PollNotOpen()), writes=True)
    assert error["message"] == polls_errors.PollNotOpen.default_detail
    assert error["extensions"] == {"code": "poll_not_open", "status": 409}


def test_our_bug_shows_nothing_of_itself(caplog):
    error = formatted(GraphQLError("x", original_error=KeyError("secret")), writes=False)
    assert error["extensions"] == {"code": "server_error", "status": 500}
    assert "secret" not in error["message"]
    assert "KeyError" in caplog.text  # logged, with its traceback, for us
