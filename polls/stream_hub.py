"""Live results for the stream processes: one LISTEN connection per process, and per
poll one read of the results per change, shared by all of that poll's subscribers.

Subscribers hold no database connection. The Hub hears polls/notifier.py's NOTIFYs (and
the reconciler's, for changes nobody announced), coalesces them per poll
(RESULTS_STREAM_MIN_INTERVAL) and puts the same SSE frame in every subscriber's queue.
A frame goes out only when the document changed, and never one older than the last:
a subscriber sees each version once, in order. Every RESULTS_STREAM_REFRESH_SECONDS it
also rereads the polls it serves, so a wake-up lost anywhere (a NOTIFY sent while the
database was away, a cache that lost its entries) costs at most that long. Access is
not checked here: polls/stream_apis.py checks it once, when a subscriber connects.
"""

import asyncio
import logging
import select
import time
from collections import defaultdict
from dataclasses import dataclass

import psycopg2
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from polls.notifier import CHANNEL
from polls.results import rendered_results
from pollsite.db_backend.base import WATCHDOG
from pollsite.threads import BackgroundThread

logger = logging.getLogger(__name__)
# The LISTEN connection's application_name (pg_stat_activity), one per stream process.
LISTENER_NAME = "results stream listener"


@dataclass(frozen=True)
class Frame:
    """One `results` event: its text, and what tells two apart."""

    version: int
    etag: str
    text: str
    body: bytes  # the results document itself (the GraphQL subscription's, polls/graphql.py)

    def follows(self, last):
        """Whether a subscriber that was last sent `last` (or nothing) should get this:
        a different document, and not an older one."""
        return last is None or (self.etag != last.etag and self.version >= last.version)


class Hub:
    """Per process: subscribers per poll, fed from one LISTEN connection."""

    def __init__(self):
        self._subscribers = defaultdict(set)
        self._count = 0
        self._pending = {}
        self._last_sent = {}  # poll id -> loop time of the last broadcast
        self._last_frame = {}  # poll id -> the last Frame broadcast
        # Set by subscribe(), before any subscriber, listener thread or broadcast exists to
        # use it.
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self._listener = BackgroundThread(self._listen, name="results-listener")

    def subscribe(self, poll_id) -> asyncio.Queue[Frame]:
        self._loop = asyncio.get_running_loop()
        # A listener ends with the loop it served; a new loop (a test's) gets its own.
        self._listener.ensure_running()
        queue: asyncio.Queue[Frame] = asyncio.Queue(maxsize=1)
        self._subscribers[poll_id].add(queue)
        self._count += 1
        return queue

    def subscribers(self):
        """How many streams this process serves."""
        return self._count

    def unsubscribe(self, poll_id, queue):
        if queue not in self._subscribers.get(poll_id, ()):
            return
        self._subscribers[poll_id].discard(queue)
        self._count -= 1
        if not self._subscribers[poll_id]:
            del self._subscribers[poll_id]
            self._last_frame.pop(poll_id, None)

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
        try:
            frame = await sync_to_async(results_frame, thread_sensitive=False)(poll_id)
        except Exception:
            logger.exception("could not read results for poll %s", poll_id)
            return
        if frame is None or not frame.follows(self._last_frame.get(poll_id)):
            return  # nothing new: a repeated wake-up, or a reread that found no change
        # Only a frame sent counts for the coalescing: a reread that found nothing must
        # not hold back the next change.
        self._last_sent[poll_id] = self._loop.time()
        if poll_id in self._subscribers:
            self._last_frame[poll_id] = frame
        for queue in list(self._subscribers.get(poll_id, ())):
            if queue.full():  # a slow reader only ever needs the latest results
                queue.get_nowait()
            queue.put_nowait(frame)

    def _refresh_all(self):
        for poll_id in list(self._subscribers):
            self.changed(poll_id)

    # -- in the listener thread --

    def _listen(self):
        loop = self._loop
        while True:
            try:
                self._listen_once()
            except Exception:
                if loop.is_closed():
                    return  # the loop it served is gone (the server stopped): so is it
                logger.exception("results listener lost its connection; reconnecting")
            time.sleep(1)
            if loop.is_closed():
                return
            # Changes may have been missed while disconnected: refresh everyone.
            loop.call_soon_threadsafe(self._refresh_all)

    def _listen_once(self):
        conn = psycopg2.connect(
            settings.DATABASE_URL,
            connect_timeout=settings.DATABASES["default"]["OPTIONS"]["connect_timeout"],
            # Named, so that pg_stat_activity shows where each stream process listens.
            application_name=LISTENER_NAME,
        )
        conn.autocommit = True
        every = settings.RESULTS_STREAM_REFRESH_SECONDS
        try:
            conn.cursor().execute(f"LISTEN {CHANNEL}")
            refresh_at = time.monotonic() + every
            while True:
                if select.select([conn], [], [], max(0.0, refresh_at - time.monotonic()))[0]:
                    conn.poll()
                self._hand_over(conn)
                if time.monotonic() >= refresh_at:
                    self._check(conn)
                    self._hand_over(conn)
                    self._loop.call_soon_threadsafe(self._refresh_all)
                    refresh_at = time.monotonic() + every
        finally:
            conn.close()

    def _hand_over(self, conn):
        while conn.notifies:
            poll_id = int(conn.notifies.pop(0).payload)
            self._loop.call_soon_threadsafe(self.changed, poll_id)

    @staticmethod
    def _check(conn):
        """Whether the LISTEN connection still reaches the primary, asked at each refresh.
        A silent socket proves nothing: a frozen server keeps it open and sends nothing
        (the watchdog shuts it after DB_SOCKET_TIMEOUT), and a server demoted to a standby
        hears no NOTIFY again (a standby cannot LISTEN). Either way: reconnect, which
        finds the leader now (through HAProxy, docs/scaling.md)."""
        with WATCHDOG.watch(conn, settings.DB_SOCKET_TIMEOUT, False), conn.cursor() as cursor:
            cursor.execute("SELECT pg_is_in_recovery()")
            row = cursor.fetchone()
        if row is None or row[0]:
            raise psycopg2.OperationalError("the LISTEN connection reached a standby")


hub = Hub()


def results_frame(poll_id) -> Frame | None:
    """The SSE frame of a poll's current results. Access was checked when each
    subscriber connected; this frame is shared by all of them."""
    # Runs in an executor thread, outside any request: drop a connection that a
    # restarted database left unusable, and do not keep one open afterwards.
    close_old_connections()
    try:
        results = rendered_results(poll_id)
        return frame_of(results) if results is not None else None
    finally:
        close_old_connections()


def frame_of(results) -> Frame:
    """The SSE frame of a RenderedResults."""
    return Frame(results.version, results.etag, sse("results", results.body.decode()), results.body)


def sse(event, data) -> str:
    """One SSE frame; `data` is JSON already, on one line."""
    return f"event: {event}\ndata: {data}\n\n"
