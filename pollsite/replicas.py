"""Reads that may lag go to a streaming replica (DATABASE_REPLICA_URL), without ever
showing a client older data than it should see.

Which reads. Only those a view runs through `read_replica_or_primary()` (a poll's
events, a receipt check, the receipt ledger), and of those only the queries of models
that cacheops does not cache: a cacheops entry filled from a replica that is behind
would outlive the invalidation it missed (polls and options, the snapshots and the
timeline are read from the primary, where cacheops keeps them). Everything else, every
write and every read inside a transaction, goes to the primary; so do the results and
their cache, whose guarantee (never older than an acknowledged vote) a replica cannot
keep.

How stale. Each process samples, every REPLICA_CHECK_SECONDS, the primary's WAL write
position and then the replica's replay position (ReplicaMonitor). The replica holds
every transaction committed before a sample whose position it has replayed (a commit is
acknowledged only once its WAL is written: synchronous_commit, on by default), so the
latest such sample says how fresh it is, by this process's own monotonic clock. A read
goes to the replica only while that is within REPLICA_MAX_LAG_SECONDS; else, replay
paused, the replica down or far behind, it goes to the primary. Only durations are
compared, so the hosts' clocks need not agree. A check that fails stops the replica's
use at once, until one succeeds.

When it fails under a read. A replica that dies or freezes between two checks fails the
reads sent to it meanwhile: refused at once (dead), or cut off by the watchdog after
REPLICA_SOCKET_TIMEOUT (frozen; shorter than the primary's DB_SOCKET_TIMEOUT, since
these reads are small). Such a read is done again on the primary in the same request,
and the replica is left alone until a check succeeds: its reader gets an answer, not a
503. (The reads sent there have no side effects, so running one twice is safe.)

Reading your writes. A client that wrote (any POST, PATCH, PUT or DELETE with its bearer
token) is pinned to the primary in Redis for REPLICA_MAX_LAG_SECONDS and a second more
(ReadYourWritesMiddleware). Once its pin runs out the replica, if used at all, holds
everything committed REPLICA_MAX_LAG_SECONDS ago, the write included. Redis unreachable:
every client counts as pinned. (A pin lost with a Redis failover in the second after
its write, or one that could not be written while Redis came back, leaves that client
reading the replica, at most REPLICA_MAX_LAG_SECONDS behind, for the pin's life.)

NOTIFY and LISTEN stay on the primary: they are sent by triggers on its writes and heard
by the stream and the workers on their direct connections; a standby refuses both.
"""

import contextlib
import contextvars
import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import psycopg2
import redis
from cacheops.conf import model_profile
from django.conf import settings
from django.db import DatabaseError, connections

from pollsite import redis_client
from pollsite.threads import BackgroundThread

logger = logging.getLogger(__name__)
REPLICA = "replica"
T = TypeVar("T")


@dataclass
class _Scope:
    """A read_replica_or_primary() call: the earliest moment the replica must hold (wall
    clock), and whether a query of it went to the replica."""

    complete_since: datetime | None
    pinned: bool | None = None  # asked once per read
    sent_to_replica: bool = False


_scope: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar(
    "replica_scope", default=None
)
_writer: contextvars.ContextVar[str | None] = contextvars.ContextVar("replica_writer", default=None)


def configured() -> bool:
    return REPLICA in settings.DATABASES


def read_replica_or_primary(read: Callable[[], T], *, complete_since: datetime | None = None) -> T:
    """read(), whose queries may use the replica if it is fresh enough and, with
    `complete_since`, only if it holds every change committed before that moment (a
    closed poll's audit needs all of its votes, not most of them). If the replica fails
    it, read() runs again on the primary."""
    scope = _Scope(complete_since)
    token = _scope.set(scope)
    try:
        return read()
    except DatabaseError:
        if not scope.sent_to_replica:
            raise  # the primary's failure: nothing to fall back to
        logger.warning("a read failed on the replica; answered from the primary")
        MONITOR.replica_failed()
        connections[REPLICA].close()
    finally:
        _scope.reset(token)
    return read()


class ReplicaRouter:
    """Django's database router: the replica for the reads read_replica_or_primary()
    allows."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        scope = _scope.get()
        if scope is None or not configured() or _cached_by_cacheops(model):
            return None
        if connections["default"].in_atomic_block:
            return None  # a read beside the transaction's writes must see them
        if not MONITOR.fresh(scope.complete_since):
            return None
        if scope.pinned is None:
            scope.pinned = writer_pinned()
        if scope.pinned:
            return None
        scope.sent_to_replica = True
        return REPLICA

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return None

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        return True  # one database, seen from two servers

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return db != REPLICA  # a standby is read-only; it replays the primary's migrations


def _cached_by_cacheops(model: Any) -> bool:
    return bool(model_profile(model))


# --- Reading your writes -----------------------------------------------------------------


def _pin_key(authorization: str) -> str:
    # The token itself is never a key: its digest is.
    return "ryw:" + hashlib.sha256(authorization.encode()).hexdigest()[:32]


_redis_lock = threading.Lock()
_redis: redis.Redis | None = None


def _client() -> redis.Redis:
    global _redis
    if _redis is None:
        with _redis_lock:
            if _redis is None:
                _redis = redis_client.connect(**settings.REDIS_OPTIONS)
    return _redis


def pin_writer(authorization: str) -> None:
    """Send this client's reads to the primary until the replica must hold its write."""
    milliseconds = int((settings.REPLICA_MAX_LAG_SECONDS + 1) * 1000)
    try:
        _client().set(_pin_key(authorization), b"1", px=milliseconds)
    except redis.RedisError as exc:
        # Not pinned: its next reads ask Redis, fail the same way, and count as pinned.
        logger.warning("could not pin a writer to the primary: %s", type(exc).__name__)


def writer_pinned() -> bool:
    authorization = _writer.get()
    if not authorization:
        return False
    try:
        return bool(_client().exists(_pin_key(authorization)))
    except redis.RedisError:
        return True


class ReadYourWritesMiddleware:
    """In MIDDLEWARE when a replica is configured: remembers who asks, pins who wrote."""

    UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        authorization = request.headers.get("authorization")
        token = _writer.set(authorization)
        try:
            response = self.get_response(request)
        finally:
            _writer.reset(token)
        # Pinned whatever the answer: a 503 or a timeout may hide a write that committed.
        if authorization and request.method in self.UNSAFE:
            pin_writer(authorization)
        return response


# --- How fresh the replica is -------------------------------------------------------------


@dataclass
class ReplicaState:
    # streaming; paused (replay); disconnected (from the primary); unreachable (the
    # replica itself); not_a_standby (promoted, or pointed at a primary)
    state: str = "unknown"
    fresh_at: float | None = None  # monotonic time of the last sample the replica holds
    lag_bytes: int | None = None
    samples: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=256))


class ReplicaMonitor:
    """Per process: a thread comparing the replica's replay position with the primary's."""

    def __init__(self) -> None:
        # One comparison before the thread starts, so the first reads and /readyz know
        # the state.
        self._thread = BackgroundThread(
            self._run, name="replica-monitor", prepare=self._sample_once
        )
        self._conns: dict[str, Any] = {}
        self.status = ReplicaState()

    def fresh(self, complete_since: datetime | None = None) -> bool:
        self._thread.ensure_running()
        fresh_at = self.status.fresh_at
        if fresh_at is None:
            return False
        age = time.monotonic() - fresh_at
        if age > settings.REPLICA_MAX_LAG_SECONDS:
            return False
        if complete_since is not None:
            # The replica holds what was committed `age` seconds ago; one more second
            # for the skew between this host's clock and the one that wrote the time.
            return time.time() - age - 1 >= complete_since.timestamp()
        return True

    def staleness(self) -> float | None:
        self._thread.ensure_running()
        fresh_at = self.status.fresh_at
        return None if fresh_at is None else round(time.monotonic() - fresh_at, 3)

    def _run(self) -> None:
        while True:
            time.sleep(settings.REPLICA_CHECK_SECONDS)
            self._sample_once()

    def _sample_once(self) -> None:
        try:
            self.sample()
        except Exception as exc:  # noqa: BLE001 - any failure: the replica is not used
            self._close()
            self.replica_failed()
            logger.debug("replica check failed: %s", exc)

    def replica_failed(self) -> None:
        """No read goes to the replica until a check finds it fresh again (without this,
        reads went on to a dead replica for REPLICA_MAX_LAG_SECONDS: 394 of 1,232 reads
        answered 503 in tests/cluster/test_replica_faults.py)."""
        self.status.state, self.status.fresh_at = "unreachable", None

    def sample(self) -> None:
        """One comparison: the primary's position first, then the replica's."""
        status = self.status
        now = time.monotonic()
        primary = self._query("default", "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")[0]
        status.samples.append((now, int(primary)))
        standby, replayed, paused, receiving = self._query(
            REPLICA,
            "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn() - '0/0'::pg_lsn,"
            " pg_is_in_recovery() AND pg_is_wal_replay_paused(),"
            " EXISTS (SELECT FROM pg_stat_wal_receiver WHERE status = 'streaming')",
        )
        if not standby or replayed is None:
            status.state, status.fresh_at = "not_a_standby", None
            return
        replayed = int(replayed)
        status.state = "paused" if paused else "streaming" if receiving else "disconnected"
        status.lag_bytes = max(0, status.samples[-1][1] - replayed)
        while status.samples and status.samples[0][1] <= replayed:
            status.fresh_at = status.samples.popleft()[0]

    def _query(self, alias: str, sql: str) -> tuple[Any, ...]:
        conn = self._conns.get(alias)
        if conn is None or conn.closed:
            params = connections[alias].get_connection_params()
            conn = self._conns[alias] = psycopg2.connect(**params)
            conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(sql)
            row = cursor.fetchone()
        assert row is not None
        return tuple(row)

    def _close(self) -> None:
        for conn in self._conns.values():
            with contextlib.suppress(Exception):
                conn.close()
        self._conns.clear()


MONITOR = ReplicaMonitor()


def replica_health() -> dict[str, Any] | None:
    """The replica's state for /readyz (None: no replica configured). Informative only:
    a replica behind or away sends reads to the primary, it makes nothing unready."""
    if not configured():
        return None
    status = MONITOR.status
    staleness = MONITOR.staleness()
    return {
        "state": status.state,
        "lag_bytes": status.lag_bytes,
        "staleness_s": staleness,
        "serving_reads": staleness is not None and staleness <= settings.REPLICA_MAX_LAG_SECONDS,
        "max_lag_s": settings.REPLICA_MAX_LAG_SECONDS,
    }
