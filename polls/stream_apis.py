"""GET /api/v1/polls/{id}/results/stream: live results over Server-Sent Events.

An async view, served by uvicorn (pollsite/asgi.py): the request checks access once
(the results' own rule, selectors.access_results_by_user), subscribes to this process's
Hub (polls/stream_hub.py) and then holds no database connection.
"""

import asyncio

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.http import Http404, StreamingHttpResponse

from identity.authentication import user_from_bearer
from polls.selectors import access_results_by_user
from polls.stream_hub import hub, results_frame
from pollsite.problems import problem_response_for


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
    try:
        await sync_to_async(_authorize, thread_sensitive=False)(request, poll_id)
    except Exception as exc:  # the same problem documents as the rest of the API
        return problem_response_for(exc)
    # Subscribe, then read: a vote landing between the two then sends an event (that
    # events() drops if it is no news) instead of falling through the gap.
    queue = hub.subscribe(poll_id)
    try:
        first = await sync_to_async(results_frame, thread_sensitive=False)(poll_id)
        if first is None:  # deleted since the check
            raise Http404
    except Exception as exc:
        hub.unsubscribe(poll_id, queue)
        return problem_response_for(exc)
    response = StreamingHttpResponse(
        events(poll_id, queue, first), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # tell a fronting nginx not to buffer the stream
    return response


def _authorize(request, poll_id):
    """Raise unless the request may see the poll's results."""
    try:
        access_results_by_user(poll_id, user_from_bearer(request))
    finally:
        close_old_connections()
