"""GraphQL errors in the contract's terms. Each error carries `extensions.code`, the REST
problem code (`already_voted`, `poll_not_open`, ...), `extensions.status`, the status
REST answers with it, and `extensions.retryAfter` (seconds) where REST sends Retry-After.

An exception a resolver raised goes through pollsite.problems.exception_handler, the
one place that turns exceptions into problems: so a SQLSTATE, a lost connection (503,
not done) or an outcome the database never told (504, maybe done) reads here as it reads
in REST. Errors GraphQL itself reports (syntax, validation, a limit) get codes of their
own, listed in GRAPHQL_CODES.
"""

import re
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError

from pollsite.problems import exception_handler

# The codes of the errors GraphQL reports before anything runs (docs/api-contract.md).
PARSE_FAILED = "graphql_parse_failed"
VALIDATION_FAILED = "graphql_validation_failed"
QUERY_TOO_DEEP = "query_too_deep"
TOO_MANY_ALIASES = "too_many_aliases"
TOO_MANY_TOKENS = "too_many_tokens"
PAGE_SIZE_OUT_OF_RANGE = "page_size_out_of_range"
QUERY_TOO_COSTLY = "query_too_costly"
INTROSPECTION_DISABLED = "introspection_disabled"
DOCUMENT_NOT_TRUSTED = "document_not_trusted"  # trusted.py
PERSISTED_DOCUMENT_NOT_FOUND = "persisted_document_not_found"
GRAPHQL_CODES = (
    PARSE_FAILED,
    VALIDATION_FAILED,
    QUERY_TOO_DEEP,
    TOO_MANY_ALIASES,
    TOO_MANY_TOKENS,
    PAGE_SIZE_OUT_OF_RANGE,
    QUERY_TOO_COSTLY,
    INTROSPECTION_DISABLED,
    DOCUMENT_NOT_TRUSTED,
    PERSISTED_DOCUMENT_NOT_FOUND,
)
# graphql-core's message when the parser stops at max_tokens (strawberry's
# MaxTokensLimiter sets it); tests/pollsite/test_graphql_limits.py holds the two together.
TOKENS_EXCEEDED = re.compile(r"Document contains more than \d+ tokens")


@dataclass(frozen=True)
class _Request:
    """What exception_handler reads of a request: whether it may have written (a lost
    answer is then 504 outcome_unknown, else 503) and a path for its log line."""

    method: str
    path: str = "/api/graphql"


def coded(error: GraphQLError, code: str) -> GraphQLError:
    """`error` with extensions.code set (and status 400: refused before it ran)."""
    error.extensions = {**(error.extensions or {}), "code": code, "status": 400}
    return error


def formatted(error: GraphQLError, *, writes: bool) -> dict[str, Any]:
    """The error as the response carries it: message, locations, path, and extensions
    with the contract's code."""
    message, extensions = _contract_of(error, writes=writes)
    shown = error.formatted
    return {
        **shown,
        "message": message,
        "extensions": {**shown.get("extensions", {}), **extensions},
    }


def _contract_of(error: GraphQLError, *, writes: bool) -> tuple[str, dict[str, Any]]:
    if error.extensions and "code" in error.extensions:
        return error.message, {}
    original = error.original_error
    if isinstance(original, GraphQLError):  # raised as such by a limit's check
        return _contract_of(original, writes=writes)
    if original is None:
        if isinstance(error, GraphQLSyntaxError):
            code = TOO_MANY_TOKENS if TOKENS_EXCEEDED.search(error.message) else PARSE_FAILED
        else:
            code = VALIDATION_FAILED
        return error.message, {"code": code, "status": 400}
    # A resolver's exception (ours, DRF's, Django's or the database's): its problem, as
    # REST would answer it; anything unknown is logged there with its traceback and
    # shows the client nothing but server_error.
    response = exception_handler(
        original if isinstance(original, Exception) else Exception(str(original)),
        {"request": _Request("POST" if writes else "GET")},
    )
    problem = response.data
    extensions: dict[str, Any] = {"code": problem["code"], "status": response.status_code}
    if retry_after := response.headers.get("Retry-After"):
        extensions["retryAfter"] = int(retry_after)
    if "errors" in problem:
        extensions["errors"] = problem["errors"]
    return str(problem["detail"]), extensions
