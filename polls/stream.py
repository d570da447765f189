"""Live results over Server-Sent Events.

    vote commits ─► Notifier (per process) ─► NOTIFY poll_results, '<poll_id>'
                                                   │
    every process: one LISTEN connection ◄─────────┘
                   └─► Hub: per poll, read the results once, fan out to its subscribers

Why the vote transaction does not NOTIFY itself: a transaction that notifies takes a
database-wide lock at commit, and measured on this stack that halved the vote rate
(pgbench, 8 clients: 6,245 tps without, 3,076 with). The Notifier sends one NOTIFY per
batch of changed polls instead, at most every RESULTS_NOTIFY_INTERVAL, from its own
connection. Subscribers hold no database connection: one LISTEN connection per process
serves them all, and the Hub reads each poll's results once per event, not once per
subscriber.
"""

import asyncio
import logging
import select
import threading
import time
from collections import defaultdict

import psycopg2
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connection
from django.http import Http404, StreamingHttpResponse

from identity.authentication import user_from_bearer
from pollsite.problems import problem_response_for

logger = logging.getLogger(__name__)
CHANNEL = "poll_results"


class Notifier:
    """Sends coalesced NOTIFYs for polls whose counters changed in this process."""

    def __init__(self):
        self._dirty = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None

    def poll_changed(self, poll_id):
        with self._lock:
            self._dirty.add(poll_id)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="results-notifier", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def _run(self):
        while True:
            self._wake.wait()
            self._wake.clear()
            with self._lock:
                polls, self._dirty = self._dirty, set()
            self._send(polls)
            # The first change after a quiet spell goes out at once; a burst is batched.
            time.sleep(settings.RESULTS_NOTIFY_INTERVAL)
            if not self._wake.is_set():
                connection.close()  # the burst is over: hold no idle connection

    def _send(self, polls):
        try:
            notify(polls)  # on this thread's own connection, autocommit
        except Exception:
            logger.exception("could not notify results changes for %d poll(s)", len(polls))
            connection.close()  # reconnect next time


notifier = Notifier()


def notify(poll_ids):
    """Wake every process's streams for these polls: one NOTIFY per poll, from this
    thread's connection (outside a transaction, so it goes out at once)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_notify(%s, id::text) FROM unnest(%s::bigint[]) id",
            [CHANNEL, sorted(poll_ids)],
        )


class Hub:
    """Per process: subscribers per poll, fed from one LISTEN connection."""

    def __init__(self):
        self._subscribers = defaultdict(set)
        self._pending = {}
        self._last_sent = {}
        self._loop = None
        self._listener = None

    def subscribe(self, poll_id) -> asyncio.Queue:
        self._loop = asyncio.get_running_loop()
        if self._listener is None:
            self._listener = threading.Thread(
                target=self._listen, name="results-listener", daemon=True
            )
            self._listener.start()
        queue = asyncio.Queue(maxsize=1)
        self._subscribers[poll_id].add(queue)
        return queue

    def unsubscribe(self, poll_id, queue):
        self._subscribers[poll_id].discard(queue)
        if not self._subscribers[poll_id]:
            del self._subscribers[poll_id]

    # -- in the event loop --

    def changed(self, poll_id):
        """Coalesce: at most one broadcast per poll per RESULTS_STREAM_MIN_INTERVAL, and
        the trailing one always comes, so the last vote is never left out."""
        if poll_id not in self._subscribers or poll_id in self._pending:
            return
        due = self._last_sent.get(poll_id, 0) + settings.RESULTS_STREAM_MIN_INTERVAL
        delay = max(0.0, due - self._loop.time())
        self._pending[poll_id] = self._loop.call_later(
            delay, lambda: asyncio.ensure_future(self._broadcast(poll_id))
        )

    async def _broadcast(self, poll_id):
        del self._pending[poll_id]
        self._last_sent[poll_id] = self._loop.time()
        try:
            event = await sync_to_async(results_event, thread_sensitive=False)(poll_id)
        except Exception:
            logger.exception("could not read results for poll %s", poll_id)
            return
        if event is None:
            return
        for queue in list(self._subscribers.get(poll_id, ())):
            if queue.full():  # a slow reader only ever needs the latest results
                queue.get_nowait()
            queue.put_nowait(event)

    # -- in the listener thread --

    def _listen(self):
        while True:
            try:
                self._listen_once()
            except Exception:
                logger.exception("results listener lost its connection; reconnecting")
            time.sleep(1)
            # Changes may have been missed while disconnected: refresh everyone.
            for poll_id in list(self._subscribers):
                self._loop.call_soon_threadsafe(self.changed, poll_id)

    def _listen_once(self):
        conn = psycopg2.connect(settings.DATABASE_URL)
        conn.autocommit = True
        try:
            conn.cursor().execute(f"LISTEN {CHANNEL}")
            while True:
                if select.select([conn], [], [], 30) == ([], [], []):
                    continue
                conn.poll()
                while conn.notifies:
                    poll_id = int(conn.notifies.pop(0).payload)
                    self._loop.call_soon_threadsafe(self.changed, poll_id)
        finally:
            conn.close()


hub = Hub()


def results_event(poll_id) -> str | None:
    """The SSE frame for a poll's current results. Access was checked when each
    subscriber connected; this frame is shared by all of them."""
    from polls.selectors import poll_results

    # Runs in an executor thread, outside any request: drop a connection that a
    # restarted database left unusable, and do not keep one open afterwards.
    close_old_connections()
    try:
        results = poll_results(poll_id)
        return sse("results", results.body.decode()) if results else None
    finally:
        close_old_connections()


def sse(event, data) -> str:
    """One SSE frame; `data` is JSON already, on one line."""
    return f"event: {event}\ndata: {data}\n\n"


async def events(poll_id, queue, first_event):
    """The stream: the results now, then after each change; a comment as heartbeat."""
    try:
        yield first_event
        while True:
            try:
                yield await asyncio.wait_for(queue.get(), settings.RESULTS_STREAM_HEARTBEAT)
            except TimeoutError:
                yield ": heartbeat\n\n"
    finally:
        hub.unsubscribe(poll_id, queue)


async def results_stream(request, poll_id):
    """GET /api/v1/polls/{id}/results/stream: text/event-stream of `results` events."""
    try:
        await sync_to_async(_authorize, thread_sensitive=False)(request, poll_id)
    except Exception as exc:  # the same problem documents as the rest of the API
        return problem_response_for(exc)
    # Subscribe, then read: a vote landing between the two then sends an event (at worst
    # a repeat; versions only grow) instead of falling through the gap.
    queue = hub.subscribe(poll_id)
    try:
        first_event = await sync_to_async(results_event, thread_sensitive=False)(poll_id)
        if first_event is None:  # deleted since the check
            raise Http404
    except Exception as exc:
        hub.unsubscribe(poll_id, queue)
        return problem_response_for(exc)
    response = StreamingHttpResponse(
        events(poll_id, queue, first_event), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # tell a fronting nginx not to buffer the stream
    return response


def _authorize(request, poll_id):
    """Raise unless the request may see the poll's results (results_for's rules)."""
    from polls.selectors import results_for

    try:
        results_for(poll_id, user_from_bearer(request))
    finally:
        close_old_connections()
