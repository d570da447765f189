"""The GraphQL endpoints, as strawberry's Django views with the contract's HTTP answers.

- POST /api/graphql (GET for queries only): GraphQLView, sync, on the web tier (granian),
  where database connections persist across requests.
- POST /api/graphql/stream: StreamGraphQLView, async, on the stream tier (uvicorn): the
  subscriptions, over Server-Sent Events (the graphql-sse protocol's distinct
  connections mode), fed by the results stream's hub (polls/graphql.py).

HTTP statuses: 200 when the operation ran, errors or not (each error says its code);
400 when GraphQL refused the document before it ran (syntax, validation, a limit), 401
for a dead token, 405 for a mutation sent with GET, 415/400 for a body that is not a
GraphQL request; 503 or 504, with Retry-After, when the database (or a full stream
server) kept the whole operation from running. The body is a GraphQL response every
time: `{"data": ..., "errors": [{"message", "extensions": {"code", "status", ...}}]}`.
"""

import json
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

from cross_web import HTTPException
from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.decorators import classonlymethod
from django.views.decorators.csrf import csrf_exempt
from graphql import GraphQLError
from strawberry.django import views as strawberry_views
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.streaming import SSETransport
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_SSE_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from pollsite.graphql import errors

WWW_AUTHENTICATE = 'Bearer realm="api"'  # as REST's 401 (knox's authenticate_header)

# What strawberry says when it refuses a request before GraphQL sees it, as the contract
# says it: (status, code). Anything else it refuses is 400 bad_request.
REFUSALS: dict[str, tuple[int, str]] = {
    "Unable to parse request body as JSON": (400, "malformed_request"),
    "No GraphQL query found in the request": (400, "malformed_request"),
    "Unsupported content type": (415, "unsupported_media_type"),
    "Batching is not enabled": (400, "batching_disabled"),
    "Batching is not supported for SSE": (400, "batching_disabled"),
    "GraphQL only supports GET and POST requests.": (405, "method_not_allowed"),
    "mutations are not allowed when using GET": (405, "method_not_allowed"),
    "Not Found": (404, "not_found"),  # GET without a query where GraphiQL is off
}
USE_STREAM_ENDPOINT = "use_stream_endpoint"
STREAM_ELSEWHERE = (
    "Subscriptions are served at /api/graphql/stream, over Server-Sent Events (graphql-sse)."
)


def refusal(status: int, code: str, message: str, headers: Mapping[str, str] = {}) -> HttpResponse:
    """A GraphQL response with one error and no data."""
    body = {"errors": [{"message": message, "extensions": {"code": code, "status": status}}]}
    response = HttpResponse(json.dumps(body), status=status, content_type="application/json")
    for name, value in headers.items():
        response[name] = value
    if status == 405:
        response["Allow"] = "POST" if code == "method_not_allowed" else "GET, POST"
    return response


def refusal_for(exc: Exception, *, writes: bool = False) -> HttpResponse:
    """The response for an exception raised before GraphQL ran (a malformed token, a body
    too large, the database down while reading the token): its problem, as REST's."""
    error = errors.formatted(GraphQLError(str(exc), original_error=exc), writes=writes)
    extensions = error["extensions"]
    return refusal(extensions["status"], extensions["code"], error["message"], _headers(extensions))


def _headers(extensions: Mapping[str, Any]) -> dict[str, str]:
    headers = {}
    if "retryAfter" in extensions:
        headers["Retry-After"] = str(extensions["retryAfter"])
    if extensions.get("status") == 401:
        headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    return headers


def _refused(exc: HTTPException) -> HttpResponse:
    reason = exc.reason
    if reason.startswith("subscriptions are not allowed"):
        return refusal(400, USE_STREAM_ENDPOINT, STREAM_ELSEWHERE)
    if reason.startswith(("Can't get GraphQL operation type", "Unknown operation named")):
        return refusal(400, errors.VALIDATION_FAILED, reason)
    status, code = REFUSALS.get(reason, (exc.status_code, "bad_request"))
    return refusal(status, code, reason)


def response_status(data: GraphQLHTTPResponse) -> tuple[int, dict[str, str]]:
    """The HTTP status and headers of a GraphQL response (see the module's docstring)."""
    found = data.get("errors") or []
    if not found:
        return 200, {}
    extensions = [e.get("extensions", {}) for e in found if isinstance(e, dict)]
    statuses = {e.get("status", 400) for e in extensions}
    result = data.get("data")
    if result is not None and any(value is not None for value in result.values()):
        return 200, {}
    common = statuses.pop() if len(statuses) == 1 else None
    if result is not None and (common is None or common < 500):
        return 200, {}  # it ran: each field's error says what REST would have
    headers = {}
    for extension in extensions:
        headers.update(_headers(extension))
    return common or 400, headers


class ContractErrors:
    """process_result: errors in the contract's terms (pollsite/graphql/errors.py)."""

    context: Any = None

    def formatted_result(self, result: ExecutionResult) -> GraphQLHTTPResponse:
        writes = bool(getattr(self.context, "writes", False))
        response: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            response["errors"] = [errors.formatted(e, writes=writes) for e in result.errors]
        if result.extensions:
            response["extensions"] = result.extensions
        return response


class AnswerCache(Protocol):
    """Anonymous answers kept as written, served again to the same request (the same
    body, or query string) while what they were made of still holds: each entry's
    `validators`, as a resolver named them (RequestContext.validators), checked by
    `current` as the app reads them. An app provides one (polls/graphql.py)."""

    def lookup(self, key: bytes) -> bytes | None: ...

    def store(self, key: bytes, validators: list[Any], body: bytes) -> None: ...


class GraphQLView(ContractErrors, strawberry_views.GraphQLView):
    """POST /api/graphql, and GET for queries."""

    context_factory: Callable[[HttpRequest], Any] = staticmethod(lambda request: None)
    answers: AnswerCache | None = None

    @classonlymethod
    def as_view(cls, **initkwargs: Any) -> Any:  # noqa: N805
        # The caller is named by a bearer token only, never a cookie: no CSRF to guard.
        return csrf_exempt(super().as_view(**initkwargs))

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        self.graphql_ide = "graphiql" if settings.GRAPHQL_GRAPHIQL else None
        try:
            key = self._answer_key(request) if self.answers is not None else None
            if key is not None and (kept := self.answers.lookup(key)) is not None:  # type: ignore[union-attr]
                return self._kept(request, kept)
            response = self.run(request=request)
        except HTTPException as exc:
            return _refused(exc)
        except Exception as exc:  # before GraphQL ran: see refusal_for
            return refusal_for(exc)
        validators = getattr(self.context, "validators", None)
        if key is not None and self.answers is not None and validators and _plain(response):
            self.answers.store(key, validators, response.content)  # type: ignore[attr-defined]
        return response

    @staticmethod
    def _kept(request: HttpRequest, body: bytes) -> HttpResponse:
        response = HttpResponse(body, content_type="application/json")
        if request.method == "GET":
            response["Vary"] = "Authorization"
        return response

    @staticmethod
    def _answer_key(request: HttpRequest) -> bytes | None:
        """What identifies an anonymous request's answer: its body (POST) or query string
        (GET); None for a request with a token, whose answer is never kept."""
        if "authorization" in request.headers:
            return None
        if request.method == "POST" and len(request.body) <= ANSWER_KEY_MAX_BYTES:
            return b"POST " + request.body
        query_string = str(request.META.get("QUERY_STRING", ""))
        if request.method == "GET" and query_string:
            return b"GET " + query_string.encode()
        return None

    def get_context(self, request: HttpRequest, response: HttpResponse) -> Any:
        self.context = self.context_factory(request)
        return self.context

    def execute_single(  # noqa: PLR0913
        self,
        request: HttpRequest,
        request_adapter: Any,
        sub_response: Any,
        context: Any,
        root_value: Any,
        request_data: Any,
    ) -> ExecutionResult:
        # Strawberry's, but queries and mutations only: subscriptions stream, elsewhere.
        method = request_adapter.method
        allowed = {OperationType.QUERY} | ({OperationType.MUTATION} if method == "POST" else set())
        try:
            return self.schema.execute_sync(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except CannotGetOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason()) from exc
        except InvalidOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason(method)) from exc
        except MissingQueryError as exc:
            raise HTTPException(400, "No GraphQL query found in the request") from exc

    def process_result(self, request: HttpRequest, result: ExecutionResult) -> GraphQLHTTPResponse:
        return self.formatted_result(result)

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: HttpResponse,
    ) -> HttpResponseBase:
        response = super().create_response(response_data, sub_response)
        if isinstance(response_data, dict):
            response.status_code, headers = response_status(response_data)
            for name, value in headers.items():
                response[name] = value
        if getattr(self.request, "method", "") == "GET":
            response["Vary"] = "Authorization"
        return response


# An answer is kept only for a request this long or shorter (a results query is ~300 bytes).
ANSWER_KEY_MAX_BYTES = 4096


def _plain(response: HttpResponseBase) -> bool:
    """A 200 whose body is data without errors: the only kind kept."""
    content = getattr(response, "content", b"")
    return response.status_code == 200 and b'"errors"' not in content


class ResultsEventStream(SSETransport):
    """graphql-sse over this server's stream: subscriptions only, with the results
    stream's heartbeat."""

    def __init__(self) -> None:
        super().__init__(heartbeat_interval=settings.RESULTS_STREAM_HEARTBEAT)

    def allowed_operation_types(self, allowed_operation_types: Any) -> Any:
        return (OperationType.SUBSCRIPTION,)


class StreamGraphQLView(ContractErrors, strawberry_views.AsyncGraphQLView):
    """POST /api/graphql/stream: a subscription's events, `text/event-stream`."""

    stream_transport_classes_by_protocol = {GRAPHQL_SSE_PROTOCOL: ResultsEventStream}
    context_factory: Callable[[HttpRequest], Any] = staticmethod(lambda request: None)
    # The server's own limit: an exception to answer while it is full, else None.
    capacity_refusal: Callable[[], Exception | None] = staticmethod(lambda: None)
    # What a server that holds no stream answers (the API's, where no front routes streams).
    no_stream_refusal: Callable[[], Exception] = staticmethod(lambda: Exception())

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(graphql_ide=None, subscription_protocols=(GRAPHQL_SSE_PROTOCOL,), **kwargs)

    async def dispatch(  # type: ignore[override]
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        if isinstance(request, WSGIRequest):
            # The API server holds no stream (see polls/stream_apis.py); where no front
            # routes streams to the stream server, it answers as a full one does.
            return refusal_for(self.no_stream_refusal())
        if not self._stream_transport_map[ResultsEventStream.protocol].accepts(
            request.headers.get("Accept", "")
        ):
            return refusal(406, "not_acceptable", "Send Accept: text/event-stream (graphql-sse).")
        if (full := self.capacity_refusal()) is not None:
            return refusal_for(full)  # before any work, as the REST stream
        try:
            return await self.run(request=request)
        except HTTPException as exc:
            return _refused(exc)
        except Exception as exc:
            return refusal_for(exc)

    async def get_context(self, request: HttpRequest, response: HttpResponse) -> Any:
        self.context = self.context_factory(request)
        return self.context

    async def process_result(
        self, request: HttpRequest, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        return self.formatted_result(result)

    async def create_streaming_response(
        self,
        request: HttpRequest,
        stream: Callable[[], AsyncIterator[Any]],
        sub_response: strawberry_views.TemporalHttpResponse,
        headers: Mapping[str, str],
    ) -> HttpResponseBase:
        response = await super().create_streaming_response(request, stream, sub_response, headers)
        response["X-Content-Type-Options"] = "nosniff"  # no SecurityMiddleware here (asgi.py)
        return response
