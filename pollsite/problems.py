"""Every error is an RFC 9457 problem document with a stable `code`; this is the one place
that turns exceptions (DRF's, Django's and the database's SQLSTATEs) into them."""

import logging
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, renderers, serializers
from rest_framework.response import Response

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"


class JSONRenderer(renderers.JSONRenderer):
    """JSON, and the problem+json flavour of it, so error bodies pass content negotiation."""

    media_type = "application/json"
    format = "json"


class Problem(exceptions.APIException):
    """A domain error with its contract code, raised by services and selectors."""

    def __init__(self, code, detail, *, status=400, headers=None, errors=None):
        super().__init__(detail=detail, code=code)
        self.status_code = status
        self.code = code
        self.headers = headers or {}
        self.errors = errors


# Codes for DRF's own exceptions, where the contract wants a name of its own.
DRF_CODES = {
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


# --- Database errors -------------------------------------------------------------------
# The one place where the database's refusals become the API's error codes: custom
# SQLSTATEs raised by the triggers (polls/models.py, sql/), and named constraints.
SQLSTATE_PROBLEMS = {
    "PV001": (400, "invalid_option", "This option does not belong to this poll."),
    "PV002": (409, "poll_not_open", "This poll is not open for voting."),
    "PV003": (409, "poll_locked", "This poll has votes or is closed; it cannot change."),
    "PV004": (409, "vote_immutable", "Votes cannot be changed or deleted."),
    "PV005": (404, "not_found", "Not found."),
    "PV006": (404, "not_found", "Not found."),  # a draft is invisible to voters
}
CONSTRAINT_PROBLEMS = {
    "polls_vote_one_per_voter": (
        409,
        "already_voted",
        "This national ID has already voted in this poll.",
    ),
}
UNIQUE_VIOLATION = "23505"
# Seconds a client should wait before retrying while the database is unreachable.
DATABASE_RETRY_AFTER = 5


def sqlstate_of(exc):
    cause = exc.__cause__ or exc
    return getattr(cause, "pgcode", None)


def constraint_of(exc):
    diag = getattr(exc.__cause__ or exc, "diag", None)
    return getattr(diag, "constraint_name", None)


def problem_from_database_error(exc):
    """The contract's Problem for a known database refusal, else None."""
    known = SQLSTATE_PROBLEMS.get(sqlstate_of(exc))
    if known is None and sqlstate_of(exc) == UNIQUE_VIOLATION:
        known = CONSTRAINT_PROBLEMS.get(constraint_of(exc))
    if known is None:
        return None
    status, code, detail = known
    return Problem(code, detail, status=status)


def database_unavailable():
    return Problem(
        "database_unavailable",
        "The database is not answering; try again shortly.",
        status=503,
        headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
    )


def payload_too_large():
    return Problem(
        "payload_too_large",
        f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.",
        status=413,
    )


def _known_problem(exc):
    """The contract's Problem for an exception that is not our bug, else None."""
    if isinstance(exc, RequestDataTooBig):
        return payload_too_large()
    known = problem_from_database_error(exc) if isinstance(exc, DatabaseError) else None
    # InterfaceError is no DatabaseError in Django's hierarchy: test for it explicitly.
    if known is None and isinstance(exc, (OperationalError, InterfaceError)):
        # Connection refused or lost, the server shutting down, a query cancelled by the
        # server: the request may succeed later, so it is a 503 to retry, not our bug.
        logger.warning("database unavailable: %s", type(exc.__cause__ or exc).__name__)
        return database_unavailable()
    return known


def problem(status, code, detail, *, errors=None):
    body = {
        "type": f"urn:polls:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": str(detail),
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    return body


def _validation_errors(detail):
    if isinstance(detail, dict):
        return {field: _messages(value) for field, value in detail.items()}
    return {"non_field_errors": _messages(detail)}


def _messages(value):
    if isinstance(value, dict):  # a nested serializer: flatten to "field.sub" keys later
        return [f"{key}: {' '.join(_messages(sub))}" for key, sub in value.items()]
    if isinstance(value, list):
        out = []
        for item in value:
            out.extend(_messages(item) if isinstance(item, (list, dict)) else [str(item)])
        return out
    return [str(value)]


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every exception becomes a problem document."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    exc = _known_problem(exc) or exc

    if isinstance(exc, Problem):
        body = problem(exc.status_code, exc.code, exc.detail, errors=exc.errors)
        return _response(body, exc.status_code, exc.headers)

    if isinstance(exc, exceptions.APIException):
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait) + 1)
        code = DRF_CODES.get(type(exc)) or _code_of(exc)
        if isinstance(exc, exceptions.ValidationError):
            body = problem(
                400, code, "The request has invalid fields.", errors=_validation_errors(exc.detail)
            )
        else:
            body = problem(exc.status_code, code, exc.detail)
        return _response(body, exc.status_code, headers)

    # Anything else is our bug: log it with its traceback, show the client none of it.
    request = context.get("request")
    logger.exception(
        "unhandled error on %s %s", getattr(request, "method", "?"), getattr(request, "path", "?")
    )
    return _response(problem(500, "server_error", "Something went wrong on our side."), 500)


def _code_of(exc):
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else exc.default_code


def _response(body, status, headers=None):
    return Response(body, status=status, headers=headers, content_type=PROBLEM_CONTENT_TYPE)


# --- Django-level handlers, for URLs outside DRF views ---------------------------------


def _json_problem(status, code, detail, headers=None):
    response = JsonResponse(
        problem(status, code, detail), status=status, content_type=PROBLEM_CONTENT_TYPE
    )
    for name, value in (headers or {}).items():
        if name.lower() != "content-type":
            response[name] = value
    return response


def problem_response_for(exc):
    """A problem-document response for a view outside DRF, through the same handler."""
    response = exception_handler(exc, {})
    return _json_problem(
        response.status_code,
        response.data["code"],
        response.data["detail"],
        headers=response.headers,
    )


def not_found_view(request, exception=None):
    return _json_problem(404, "not_found", "Not found.")


def server_error_view(request):
    return _json_problem(500, "server_error", "Something went wrong on our side.")


def bad_request_view(request, exception=None):
    # Django answers a too-large body read outside DRF (request.body, request.POST) here.
    if isinstance(exception, RequestDataTooBig):
        return problem_response_for(exception)
    return _json_problem(400, "bad_request", "Bad request.")


def permission_denied_view(request, exception=None):
    return _json_problem(403, "permission_denied", "You do not have permission to do this.")


# --- OpenAPI -----------------------------------------------------------------------------


class ProblemSerializer(serializers.Serializer):
    """An RFC 9457 problem document."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="Stable snake_case code that clients branch on.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Field errors, for 400 validation_error.",
    )


def problem_responses(*entries):
    """OpenAPI responses for problem documents, from (status, code, detail) entries.

    Each status gets one response with an example per code, served as
    application/problem+json.
    """
    from drf_spectacular.utils import OpenApiExample, OpenApiResponse

    by_status = {}
    for status, code, detail in entries:
        by_status.setdefault(status, []).append(
            OpenApiExample(
                code,
                value=problem(status, code, detail),
                status_codes=[status],
                response_only=True,
                media_type=PROBLEM_CONTENT_TYPE,
            )
        )
    return {
        (status, PROBLEM_CONTENT_TYPE): OpenApiResponse(
            ProblemSerializer,
            description=", ".join(e.name for e in examples),
            examples=examples,
        )
        for status, examples in by_status.items()
    }


UNAUTHENTICATED = (401, "not_authenticated", "Authentication credentials were not provided.")
