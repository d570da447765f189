"""GET /api/v1/polls/{id}/results/stream: live results over Server-Sent Events.

An async view, served by uvicorn (pollsite/asgi.py): the request subscribes to this
process's Hub (polls/stream_hub.py), checks access once on the read that gives its first
frame (the results' own rule, selectors.access_results_by_user) and then holds no
database connection.
"""

import asyncio

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.handlers.wsgi import WSGIRequest
from django.db import close_old_connections
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from identity.authentication import user_from_bearer
from polls import errors
from polls.selectors import access_results_by_user
from polls.stream_hub import frame_of, hub
from pollsite.problems import Problem, problem_response_for, problem_responses
from pollsite.schema import document_outside_drf


class StreamCapacityReached(Problem):
    status_code = 503
    default_code = "stream_capacity"
    default_detail = "This server holds as many results streams as it can; try again shortly."

    def __init__(self):
        super().__init__(headers={"Retry-After": "5"})


class TooManyStreams(Problem):
    # Answered by the front (deploy/nginx.conf.template), per client address.
    status_code = 429
    default_code = "too_many_streams"
    default_detail = "Too many results streams from your address; close one or try again shortly."


async def events(poll_id, queue, first):
    """The stream: the results now, then after each change (each document once, never
    an older one than the last sent); a comment as heartbeat."""
    try:
        last = first
        yield first.text
        while True:
            try:
                frame = await asyncio.wait_for(queue.get(), settings.RESULTS_STREAM_HEARTBEAT)
            except TimeoutError:
                yield ": heartbeat\n\n"
                continue
            if frame.follows(last):
                last = frame
                yield frame.text
    finally:
        hub.unsubscribe(poll_id, queue)


async def results_stream(request, poll_id):
    """GET /api/v1/polls/{id}/results/stream: text/event-stream of `results` events."""
    if isinstance(request, WSGIRequest):
        # The API server (WSGI) holds no stream: Django would read this endless body to
        # its end before sending a byte, and keep one of the server's few threads for
        # good. Where no front routes streams to the stream server (Heroku's router,
        # docs/deploy.md), it answers as a full stream server does, after the same checks
        # (on the request's own thread and database connection).
        try:
            await sync_to_async(_check_access)(request, poll_id)
        except Exception as exc:
            return problem_response_for(exc)
        return problem_response_for(StreamCapacityReached())
    if hub.subscribers() >= settings.RESULTS_STREAM_CAPACITY:
        # Refused before any work: a full stream server answers at once, and the front
        # (whose connections it sized to this capacity) keeps its own for the API.
        return problem_response_for(StreamCapacityReached())
    # Subscribe, then read: a vote landing between the two then sends an event (that
    # events() drops if it is no news) instead of falling through the gap. The access
    # check and the first frame are one read of the results, in one thread hop.
    queue = hub.subscribe(poll_id)
    try:
        if "authorization" in request.headers:
            first = await sync_to_async(_first_frame, thread_sensitive=False)(request, poll_id)
        else:
            first = await ANONYMOUS_FIRST_FRAMES.get(poll_id)
    except BaseException as exc:
        # A subscriber who hangs up while waiting cancels this (CancelledError is no
        # Exception): unsubscribe then too, or its place would stay taken for good.
        hub.unsubscribe(poll_id, queue)
        if not isinstance(exc, Exception):
            raise
        return problem_response_for(exc)  # the same problem documents as the rest of the API
    response = StreamingHttpResponse(
        events(poll_id, queue, first), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # tell a fronting nginx not to buffer the stream
    response["X-Content-Type-Options"] = "nosniff"  # no SecurityMiddleware here (asgi.py)
    return response


def _check_access(request, poll_id):
    """Raise what the stream would answer before its first frame: 401, 404, 403."""
    access_results_by_user(poll_id, user_from_bearer(request))


def _first_frame(request, poll_id):
    """The poll's results now as a frame, if the request may see them; else raise."""
    try:
        return frame_of(access_results_by_user(poll_id, user_from_bearer(request)))
    finally:
        close_old_connections()


class SharedReads:
    """One read of a poll's results (and of whether anyone may see them) for all the
    anonymous subscribers that asked while the previous read was under way: a crowd
    connecting at once costs a read per wave, not one per subscriber (py-spy: the thread
    hops and reads of 3,000 subscribers kept the process's one core busy for 6 s). A
    read begins after every subscriber it serves had subscribed (the waiting list is
    closed on the event loop before the read is handed to a thread), so what each gets
    is never older than its subscription."""

    def __init__(self, read):
        self._read = read
        self._waiting = {}  # poll id -> the future its next read will answer
        self._reading = set()  # poll ids with a read under way

    def get(self, poll_id):
        future = self._waiting.get(poll_id)
        if future is None:
            future = self._waiting[poll_id] = asyncio.get_running_loop().create_future()
            if poll_id not in self._reading:
                self._begin(poll_id)
        return asyncio.shield(future)

    def _begin(self, poll_id):
        future = self._waiting.pop(poll_id)
        self._reading.add(poll_id)
        asyncio.ensure_future(self._run(poll_id, future))

    async def _run(self, poll_id, future):
        try:
            future.set_result(await sync_to_async(self._read, thread_sensitive=False)(poll_id))
        except Exception as exc:
            future.set_exception(exc)
        finally:
            self._reading.discard(poll_id)
            if poll_id in self._waiting:
                self._begin(poll_id)


def _anonymous_first_frame(poll_id):
    try:
        return frame_of(access_results_by_user(poll_id, AnonymousUser()))
    finally:
        close_old_connections()


ANONYMOUS_FIRST_FRAMES = SharedReads(_anonymous_first_frame)


STREAM_DESCRIPTION = """\
Server-Sent Events (`text/event-stream`): a `results` event at once, then one after each
change, each version once and never an older one than the last sent. Its `data` is one
line of JSON, the same document as `GET /results` (the `Results` schema); its `id` is not
set. A comment line (`: heartbeat`) comes every 15 s without news. The stream has no end:
close it when done.

Browsers: `EventSource` cannot send an `Authorization` header. Public results need none
(`new EventSource("/api/v1/polls/12/results/stream")`). Staff reading a draft or hidden
results send the bearer token with `fetch()` and read the body as a stream (for example
with `@microsoft/fetch-event-source`); the token is never accepted in the URL, where it
would reach logs and histories.
"""


class ResultsStreamSchema(APIView):
    """The schema's description of results_stream above; it serves nothing (the route
    is the async view). Authentication and permissions are the same as the stream's."""

    permission_classes = [AllowAny]
    event_stream_data = {"results": "Results"}  # event name -> its data's component

    @extend_schema(
        tags=["results"],
        summary="Live results as a stream of events",
        description=STREAM_DESCRIPTION,
        responses={
            (200, "text/event-stream"): OpenApiResponse(
                OpenApiTypes.STR,
                description="`event: results` frames whose `data` is a `Results` document.",
            ),
            **problem_responses(
                NotFound, errors.ResultsHidden, TooManyStreams, StreamCapacityReached
            ),
        },
    )
    def get(self, request, poll_id):  # pragma: no cover - never routed
        raise NotFound()


document_outside_drf(
    "/api/v1/polls/{poll_id}/results/stream",
    "api/v1/polls/<poll_id:poll_id>/results/stream",
    "GET",
    ResultsStreamSchema,
)
