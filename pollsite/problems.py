"""Every error is an RFC 9457 problem document with a stable `code`; this is the one place
that turns exceptions (ours, DRF's, Django's and the database's) into them.

Generic machinery only: the apps declare their own problems in their errors modules
(polls/errors.py, identity/errors.py) and tell this module, from their AppConfig, how
the database's refusals read (register_database_problems). Nothing here imports an app.
"""

import logging
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, renderers, serializers
from rest_framework.response import Response

from pollsite.db_backend import base as db_backend

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"


class JSONRenderer(renderers.JSONRenderer):
    """JSON, and the problem+json flavour of it, so error bodies pass content negotiation."""

    media_type = "application/json"
    format = "json"


class Problem(exceptions.APIException):
    """An error of the contract: a status, a stable `code` and a message.

    Each kind is declared once, as a subclass, in DRF's own idiom (status_code,
    default_code, default_detail): the generic ones below, the apps' in their errors
    modules. The same class is raised (by services and selectors) and listed in the
    OpenAPI schema (problem_responses), so no message is written twice. A raise may
    still say something more precise than default_detail.
    """

    status_code = 400
    default_code = "bad_request"
    default_detail = "Bad request."

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        errors: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(detail=detail)
        self.code = self.default_code
        self.headers = headers or {}
        self.errors = errors


class ServerError(Problem):
    status_code = 500
    default_code = "server_error"
    default_detail = "Something went wrong on our side."


class DatabaseUnavailable(Problem):
    status_code = 503
    default_code = "database_unavailable"
    default_detail = "The database is not answering; try again shortly."
    retry_after = 5  # seconds a client should wait before retrying

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": str(self.retry_after)})


class OutcomeUnknown(Problem):
    # 504: the API sent a write and the database stopped answering before it said how it
    # went (it may have frozen between its commit and its answer; pollsite/db_backend's
    # OutcomeUnknown). 503 means "not done"; this does not claim it.
    status_code = 504
    default_code = "outcome_unknown"
    default_detail = (
        "The database stopped answering after it received this request: it may have taken "
        "effect. Retry it with the same Idempotency-Key (a vote then answers its receipt if "
        "it counted, or is cast now; never twice), or read back before retrying."
    )
    retry_after = 5

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": str(self.retry_after)})


class AppUnavailable(Problem):
    # Answered by the front (deploy/nginx.conf.template) when no app server answers; here
    # so that the schema lists it with the app's own 503s.
    status_code = 503
    default_code = "app_unavailable"
    default_detail = "The service is restarting; try again shortly."


class PayloadTooLarge(Problem):
    status_code = 413
    default_code = "payload_too_large"
    default_detail = "The request body is larger than the limit (MAX_REQUEST_BODY_BYTES)."

    def __init__(self) -> None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        super().__init__(f"The request body is larger than {limit} bytes.")


# Codes for DRF's own exceptions, where the contract wants a name of its own.
DRF_CODES: dict[type[exceptions.APIException], str] = {
    exceptions.ValidationError: "validation_error",
    exceptions.ParseError: "malformed_request",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotFound: "not_found",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.Throttled: "throttled",
}
# Field errors all share one message; the fields' own messages go in `errors`.
VALIDATION_DETAIL = "The request has invalid fields."


def contract_of(kind: type[exceptions.APIException]) -> tuple[int, str, str]:
    """(status, code, detail) of a Problem subclass or a DRF exception class."""
    if issubclass(kind, exceptions.ValidationError):
        return 400, DRF_CODES[exceptions.ValidationError], VALIDATION_DETAIL
    code = kind.default_code if issubclass(kind, Problem) else DRF_CODES[kind]
    return kind.status_code, code, EXAMPLE_DETAILS.get(kind, str(kind.default_detail))


# DRF's own messages that are templates, as an example of them reads.
EXAMPLE_DETAILS: dict[type[exceptions.APIException], str] = {
    exceptions.UnsupportedMediaType: 'Unsupported media type "text/plain" in request.',
}


# --- Database errors -------------------------------------------------------------------
# How the database's refusals read in the API: the triggers' own SQLSTATEs and named
# unique constraints, each mapped to an exception class by the app that owns the schema
# object (its errors module, registered from its AppConfig.ready). Looked up with what an
# error carries, None when it carries nothing (which finds nothing).
_SQLSTATE_PROBLEMS: dict[str | None, type[exceptions.APIException]] = {}
_CONSTRAINT_PROBLEMS: dict[str | None, type[exceptions.APIException]] = {}
UNIQUE_VIOLATION = "23505"
# A write that reached a server in recovery: a standby, or a leader that Patroni has named
# but not yet promoted (HAProxy sends connections to it from the moment it holds the
# leader key). Nothing was written, and the leader is changing: a 503 to retry.
READ_ONLY_SQL_TRANSACTION = "25006"


def register_database_problems(
    *,
    sqlstates: Mapping[str, type[exceptions.APIException]] | None = None,
    constraints: Mapping[str, type[exceptions.APIException]] | None = None,
) -> None:
    _SQLSTATE_PROBLEMS.update(sqlstates or {})
    _CONSTRAINT_PROBLEMS.update(constraints or {})


def sqlstate_of(exc: BaseException) -> str | None:
    cause = exc.__cause__ or exc
    sqlstate: str | None = getattr(cause, "pgcode", None)
    return sqlstate


def constraint_of(exc: BaseException) -> str | None:
    diag = getattr(exc.__cause__ or exc, "diag", None)
    name: str | None = getattr(diag, "constraint_name", None)
    return name


def database_refusal(exc: BaseException) -> exceptions.APIException | None:
    """The contract's exception for a refusal a registered app declared, else None."""
    kind = _SQLSTATE_PROBLEMS.get(sqlstate_of(exc))
    if kind is None and sqlstate_of(exc) == UNIQUE_VIOLATION:
        kind = _CONSTRAINT_PROBLEMS.get(constraint_of(exc))
    return kind() if kind is not None else None


def _known_problem(exc: Exception, request: object) -> exceptions.APIException | None:
    """The contract's exception for one that is not our bug, else None."""
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, db_backend.OutcomeUnknown) and _writes(request):
        logger.warning("outcome unknown: %s", type(exc.__cause__ or exc).__name__)
        return OutcomeUnknown()
    known = database_refusal(exc) if isinstance(exc, DatabaseError) else None
    if known is None and sqlstate_of(exc) == READ_ONLY_SQL_TRANSACTION:
        logger.warning("database unavailable: a write reached a server in recovery")
        return DatabaseUnavailable()
    # InterfaceError is no DatabaseError in Django's hierarchy: test for it explicitly.
    if known is None and isinstance(exc, (OperationalError, InterfaceError)):
        # Connection refused or lost, the server shutting down, a query cancelled by the
        # server: the request may succeed later, so it is a 503 to retry, not our bug.
        logger.warning("database unavailable: %s", type(exc.__cause__ or exc).__name__)
        return DatabaseUnavailable()
    return known


def _writes(request: object) -> bool:
    """Whether the request may have changed something (a read's lost answer is just a 503)."""
    return getattr(request, "method", "GET") not in ("GET", "HEAD", "OPTIONS")


def problem(
    status: int, code: str, detail: object, *, errors: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"urn:polls:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": str(detail),
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    return body


def _validation_errors(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {field: _messages(value) for field, value in detail.items()}
    return {"non_field_errors": _messages(detail)}


def _messages(value: Any) -> list[str]:
    if isinstance(value, dict):  # a nested serializer: flatten to "field.sub" keys later
        return [f"{key}: {' '.join(_messages(sub))}" for key, sub in value.items()]
    if isinstance(value, list):
        out: list[str] = []
        for item in value:
            out.extend(_messages(item) if isinstance(item, (list, dict)) else [str(item)])
        return out
    return [str(value)]


def exception_handler(exc: Exception, context: Mapping[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: every exception becomes a problem document."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    exc = _known_problem(exc, context.get("request")) or exc

    if isinstance(exc, Problem):
        return _problem_response(exc)

    if isinstance(exc, exceptions.APIException):
        headers: dict[str, str] = {}
        # Some subclasses' own attributes (NotAuthenticated, AuthenticationFailed; Throttled).
        if auth_header := getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = auth_header
        if wait := getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(wait) + 1)
        code = DRF_CODES.get(type(exc)) or _code_of(exc)
        if isinstance(exc, exceptions.ValidationError):
            body = problem(400, code, VALIDATION_DETAIL, errors=_validation_errors(exc.detail))
        else:
            body = problem(exc.status_code, code, exc.detail)
        return _response(body, exc.status_code, headers)

    # Anything else is our bug: log it with its traceback, show the client none of it.
    request = context.get("request")
    # exc_info=exc, not logger.exception: the GraphQL view (pollsite/graphql/errors.py)
    # maps errors after the resolver's `except` block has ended; the traceback is the
    # exception's own either way.
    logger.error(
        "unhandled error on %s %s",
        getattr(request, "method", "?"),
        getattr(request, "path", "?"),
        exc_info=exc,
    )
    return _problem_response(ServerError())


def _code_of(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else exc.default_code


def _response(
    body: dict[str, Any], status: int, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(body, status=status, headers=headers, content_type=PROBLEM_CONTENT_TYPE)


def _problem_response(exc: Problem) -> Response:
    body = problem(exc.status_code, exc.code, exc.detail, errors=exc.errors)
    return _response(body, exc.status_code, exc.headers)


# --- Django-level handlers, for URLs outside DRF views ---------------------------------


def _json_problem(
    status: int, code: str, detail: object, headers: Mapping[str, str] | None = None
) -> JsonResponse:
    response = JsonResponse(
        problem(status, code, detail), status=status, content_type=PROBLEM_CONTENT_TYPE
    )
    for name, value in (headers or {}).items():
        if name.lower() != "content-type":
            response[name] = value
    return response


def problem_response_for(exc: Exception, request: object = None) -> JsonResponse:
    """A problem-document response for a view outside DRF, through the same handler."""
    response = exception_handler(exc, {"request": request})
    return _json_problem(
        response.status_code,
        response.data["code"],
        response.data["detail"],
        headers=response.headers,
    )


def not_found_view(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return problem_response_for(exceptions.NotFound())


def server_error_view(request: HttpRequest) -> JsonResponse:
    return problem_response_for(ServerError())


def bad_request_view(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    # Django answers a too-large body read outside DRF (request.body, request.POST) here.
    if isinstance(exception, RequestDataTooBig):
        return problem_response_for(exception)
    return problem_response_for(Problem())


def permission_denied_view(
    request: HttpRequest, exception: Exception | None = None
) -> JsonResponse:
    return problem_response_for(exceptions.PermissionDenied())


# --- OpenAPI -----------------------------------------------------------------------------


class ProblemSerializer(serializers.Serializer[Any]):
    """An RFC 9457 problem document."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="Stable snake_case code that clients branch on.")
    # A declared field, not Serializer.errors: DRF's metaclass takes it off the class.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Field errors, for 400 validation_error.",
    )


def problem_responses(*kinds: type[exceptions.APIException]) -> dict[Any, Any]:
    """OpenAPI responses for the problems an operation may answer, from their classes
    (Problem subclasses and DRF exceptions): each status gets one response with an
    example per code, served as application/problem+json.
    """
    return with_problems({}, kinds)


def with_problems(
    responses: Mapping[Any, Any], kinds: Iterable[type[exceptions.APIException]]
) -> dict[Any, Any]:
    """`responses` (an extend_schema responses dict) with the problems of `kinds` added:
    a status it already answers with problems gains the examples of the codes it lacks."""
    from drf_spectacular.utils import OpenApiExample, OpenApiResponse

    responses = dict(responses)
    for status, code, detail in map(contract_of, kinds):
        key = (status, PROBLEM_CONTENT_TYPE)
        known = responses.get(key)
        examples = list(known.examples) if known is not None else []
        if code in {e.name for e in examples}:
            continue
        examples.append(
            OpenApiExample(
                code,
                value=problem(status, code, detail),
                status_codes=[status],
                response_only=True,
                media_type=PROBLEM_CONTENT_TYPE,
            )
        )
        responses[key] = OpenApiResponse(
            ProblemSerializer, description=", ".join(e.name for e in examples), examples=examples
        )
    return responses
