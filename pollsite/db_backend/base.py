"""Django's PostgreSQL backend, with a health check that costs no round trip, and every
statement's wait bounded on the client side.

The health check. Persistent connections (CONN_MAX_AGE) outlive a database restart, so
Django can check a kept connection before a request's first query (CONN_HEALTH_CHECKS).
Its check is a `SELECT 1`: a full round trip, and a transaction on the server, for every
request (a quarter of a vote's wall time on this stack, py-spy). A kept connection sits
idle between requests, with nothing to read (it sends no LISTEN). One that a restart, a
crash or pg_terminate_backend() ended has something waiting: the server's last message
("FATAL: terminating connection due to administrator command"), or the end of the
stream. So the check asks the socket, without waiting, whether anything is there; if so,
or if libpq already knows the connection is closed or inside a transaction, it is closed
and replaced before the request's first query, as with Django's own check. (libpq reads
such a FATAL message as a mere notice and would still report the connection open.)

Bounded waits. The server's own limits (statement_timeout, lock_timeout, ...; settings,
"Bounded waits") cannot fire while the server is frozen (every process SIGSTOPped: a
stalled host, a hung storage): its timers do not run, and the socket stays open. So:
- a watchdog thread shuts down the socket of a statement that has waited longer than
  DB_SOCKET_TIMEOUT: the statement fails at once with "server closed the connection",
  which the API answers with 503 database_unavailable (pollsite/problems.py);
- a gate lets at most DB_CONCURRENCY statements (and connection attempts) of this
  process wait on the server at once (the API server sets it to its threads less
  one), so a frozen database cannot take every thread: /healthz and whatever needs no
  database keep one. A statement that finds the gate full waits for a place while
  the server does not look stuck: until the oldest statement waiting on it has waited
  STUCK_SECONDS, or not at all once one has, or one timed out in the last
  DB_SUSPECT_SECONDS. Then it fails the same way: requests queued behind a stuck server
  are answered at once instead of each waiting its turn, and a server that is only
  slow for a moment (a lock, a checkpoint, a standby's flush) is waited out;
- a vote carries a deadline that the database checks before it counts it
  (sql/polls_cast_vote.sql), DB_SOCKET_TIMEOUT - DB_VOTE_DEADLINE_SECONDS before the
  watchdog gives up: a vote the server takes up after a freeze or a long lock is
  refused there, so a 503 never hides a vote that went on to count.
- a commit that the server says it made on itself alone, its wait for the synchronous
  standby cancelled (pg_cancel_backend: statement_timeout is off during a commit, so a
  standby that hangs meets the watchdog instead), raises OutcomeUnknown like a lost
  answer: the API answers 504, never a 201 for a vote that one lost server would take
  with it (docs/scaling.md).
A server whose reads are done again on the primary when it fails (the replica:
READS_FALL_BACK in its DATABASES entry, pollsite/replicas.py) has its own, shorter
SOCKET_TIMEOUT, and takes no part in the gate: neither its places nor its judgement that
the server looks stuck, which are about the primary.
"""

import contextlib
import heapq
import itertools
import os
import select
import socket
import threading
import time

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError
from django.db.backends.postgresql import base
from psycopg2.extensions import STATUS_READY

from pollsite.threads import BackgroundThread

STUCK_SECONDS = 0.5  # a statement still waiting after this says the server is in trouble


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Around every statement sent through Django, for the life of this connection
        # wrapper (Django's execute_wrappers; a `with connection.execute_wrapper()` adds
        # its own on top).
        self.execute_wrappers.append(_bounded)
        self.socket_timeout = None  # None: the alias's SOCKET_TIMEOUT or DB_SOCKET_TIMEOUT
        # A server whose reads are done again elsewhere when it fails (the replica:
        # pollsite/replicas.py). Its stalls and failed connects do not make this process
        # take the primary for stuck (the gate's fast failures are for a stuck primary).
        self.reads_fall_back = bool(self.settings_dict.get("READS_FALL_BACK"))

    def allow_long_statements(self, *, seconds, lock_seconds):
        """For a job whose statements may run long (a refresh, a migration): this
        connection's server limits and its watchdog raised to `seconds` (0: none), its
        lock wait to `lock_seconds`. Session settings: call again after a reconnect (the
        jobs call it before each piece of work)."""
        self.socket_timeout = seconds + 5 if seconds else 0
        limits = {
            "statement_timeout": seconds,
            "lock_timeout": lock_seconds,
            "idle_in_transaction_session_timeout": seconds,
        }
        if self.pg_version >= 170000:  # transaction_timeout came with PostgreSQL 17
            limits["transaction_timeout"] = seconds
        with self.cursor() as cursor:
            cursor.execute(
                "; ".join(f"SET {name} = {int(value * 1000)}" for name, value in limits.items())
            )

    def reset_statement_limits(self):
        """Back to the limits this connection started with (its startup options), after
        a job that allowed itself longer ones on a connection others use next."""
        self.socket_timeout = None
        names = ["statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout"]
        if self.pg_version >= 170000:
            names.append("transaction_timeout")
        with self.cursor() as cursor:
            cursor.execute("; ".join(f"RESET {name}" for name in names))

    def watchdog_timeout(self):
        if self.socket_timeout is not None:
            return self.socket_timeout
        # An alias may bound its own statements (the replica's: REPLICA_SOCKET_TIMEOUT).
        return self.settings_dict.get("SOCKET_TIMEOUT") or settings.DB_SOCKET_TIMEOUT

    def _commit(self):
        # A COMMIT waits on the server like a statement (not through execute_wrappers:
        # psycopg2's commit()), and losing it leaves the outcome unknown the same way.
        if self.connection is None:
            return None
        with WATCHDOG.watch(self.connection, self.watchdog_timeout(), not self.reads_fall_back):
            try:
                # Django's private BaseDatabaseWrapper._commit(), absent from django-stubs.
                committed = super()._commit()  # type: ignore[misc]
            except OperationalError as exc:
                if _lost_connection(exc):
                    raise OutcomeUnknown(str(exc)) from exc
                raise
        _raise_if_committed_unreplicated(self.connection)
        return committed

    def get_new_connection(self, conn_params):
        if self.Database.__name__ != "psycopg2":
            # This backend is psycopg2's (pollsite/db_backend/driver.py pins it). A tool
            # that imports Django's backends before the settings (mypy's Django plugin)
            # gets psycopg 3, harmlessly while it does not connect.
            raise ImproperlyConfigured(
                "Django's PostgreSQL backend chose psycopg 3: Django's PostgreSQL modules "
                "were imported before pollsite.settings (pollsite/db_backend/driver.py)."
            )
        # Opening a connection waits on the server too (a frozen one accepts the TCP
        # connection and never answers the startup: DB_CONNECT_TIMEOUT): it takes a place
        # at the gate like a statement, and a failure makes the server look stuck. (A
        # thread whose connection a timeout ended reconnects at its next request; without
        # this, those reconnects took the threads the gate keeps free.)
        with GATE.place() if not self.reads_fall_back else _NOTHING:
            try:
                return super().get_new_connection(conn_params)
            except Exception:
                if not self.reads_fall_back:
                    WATCHDOG.saw_timeout()
                raise

    def is_usable(self):
        conn = self.connection
        if conn is None or conn.closed or conn.status != STATUS_READY:
            return False
        try:
            readable, _, _ = select.select([conn], [], [], 0)
        except (OSError, ValueError):  # a socket the client side already closed
            return False
        return not readable


class OutcomeUnknown(OperationalError):
    """The connection was lost after a statement that commits by itself (autocommit), or
    a COMMIT, was sent, before its answer came: the server may have committed it (it may
    even be frozen between its commit and its answer). Outside a transaction only: inside
    one, a lost connection rolls it back."""


def _bounded(execute, sql, params, many, context):
    wrapper = context["connection"]
    # A server whose reads fall back (the replica) takes no place at the gate: its waits
    # are bounded by its own short SOCKET_TIMEOUT, and the places are the primary's (a
    # frozen replica held them all, and primary reads were refused "database busy").
    tells = not wrapper.reads_fall_back
    gate = GATE.place() if tells else _NOTHING
    commits_itself = not wrapper.in_atomic_block and wrapper.autocommit
    with gate, WATCHDOG.watch(wrapper.connection, wrapper.watchdog_timeout(), tells):
        try:
            result = execute(sql, params, many, context)
        except OperationalError as exc:
            if _lost_connection(exc) and commits_itself:
                raise OutcomeUnknown(str(exc)) from exc
            raise
    if commits_itself:
        _raise_if_committed_unreplicated(wrapper.connection)
    return result


# PostgreSQL's warning (a notice, the statement itself succeeds) when a commit's wait for
# its synchronous standby was cancelled: "canceling wait for
# synchronous replication due to user request" / "The transaction has already committed
# locally, but might not have been replicated to the standby."
UNREPLICATED_COMMIT = "canceling wait for synchronous replication"


def _raise_if_committed_unreplicated(connection):
    """After a statement that committed by itself, or a COMMIT: OutcomeUnknown if the
    server committed it on itself alone. Its notices are read and forgotten (psycopg2
    keeps the last 50); an empty list, the common case, costs one truth test."""
    notices = connection.notices
    if not notices:
        return
    unreplicated = any(UNREPLICATED_COMMIT in notice for notice in notices)
    del notices[:]
    if unreplicated:
        raise OutcomeUnknown(
            "committed on the primary alone: its wait for the synchronous standby was cancelled"
        )


def _lost_connection(exc):
    """Whether the error says the connection ended, not the server refusing (a refusal
    carries a SQLSTATE, and what it refused was rolled back)."""
    return getattr(exc.__cause__, "pgcode", None) is None


class _Gate:
    """At most DB_CONCURRENCY statements of this process waiting on the server (0: no limit)."""

    def __init__(self):
        self._semaphore = None
        self._lock = threading.Lock()

    def place(self):
        limit = settings.DB_CONCURRENCY
        if not limit:
            return _NOTHING
        if self._semaphore is None:
            with self._lock:
                if self._semaphore is None:
                    self._semaphore = threading.BoundedSemaphore(limit)
        # A free place is taken at once (the usual case: nothing more on the hot path);
        # only a full gate asks whether the server looks stuck, and waits until it would.
        # (It waited a fixed 0.2 s once: a stall of 0.2 to 0.5 s, which the stuck mark
        # calls healthy, answered the request it met 503.)
        if not self._semaphore.acquire(blocking=False) and not self._semaphore.acquire(
            timeout=WATCHDOG.seconds_until_stuck()
        ):
            raise OperationalError(
                "database busy: every database place of this process is taken (the "
                "server may be slow or frozen)"
            )
        return _Release(self._semaphore)


class _Release:
    __slots__ = ("_semaphore",)

    def __init__(self, semaphore):
        self._semaphore = semaphore

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._semaphore.release()


_NOTHING = contextlib.nullcontext()


class _Watchdog:
    """One thread per process that shuts down the socket of any statement still waiting
    after DB_SOCKET_TIMEOUT seconds. A statement registers its deadline before it is sent
    and takes it back when it returns; the thread sleeps until the earliest one."""

    def __init__(self):
        self._deadlines = []  # heap of (deadline, ticket, connection, tells)
        # ticket -> (when the statement was sent, whether its wait tells of the server's
        # health: not for a server whose reads fall back), while it waits
        self._live = {}
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._tickets = itertools.count()
        self._thread = BackgroundThread(self._run, name="db-watchdog")
        self._fired_at = -1e9

    def seconds_until_stuck(self):
        """0 if the server looks stuck: a statement of this process has waited
        STUCK_SECONDS already (statements take milliseconds), or one timed out lately;
        else how long until the oldest statement waiting on it will have."""
        now = time.monotonic()
        if now - self._fired_at < settings.DB_SUSPECT_SECONDS:
            return 0.0
        with self._lock:
            oldest = min((sent for sent, tells in self._live.values() if tells), default=now)
        return max(0.0, STUCK_SECONDS - (now - oldest))

    def saw_timeout(self):
        self._fired_at = time.monotonic()

    def watch(self, connection, timeout, tells=True):
        if not timeout:
            return _NOTHING
        return _Watch(self, connection, timeout, tells)

    def _add(self, connection, timeout, tells):
        self._thread.ensure_running()
        with self._lock:
            ticket, now = next(self._tickets), time.monotonic()
            deadline = now + timeout
            # Wake the thread only if it sleeps past this deadline (not once per
            # statement: answered entries just wait in the heap for its next wake-up).
            earlier = not self._deadlines or deadline < self._deadlines[0][0]
            heapq.heappush(self._deadlines, (deadline, ticket, connection, tells))
            self._live[ticket] = (now, tells)
            if earlier:
                self._wake.notify()
            return ticket

    def _remove(self, ticket):
        with self._lock:
            self._live.pop(ticket, None)

    def _run(self):
        with self._lock:
            while True:
                while self._deadlines and self._deadlines[0][1] not in self._live:
                    heapq.heappop(self._deadlines)  # answered in time
                if not self._deadlines:
                    self._wake.wait()
                    continue
                deadline, ticket, connection, tells = self._deadlines[0]
                now = time.monotonic()
                if now < deadline:
                    self._wake.wait(deadline - now)
                    continue
                heapq.heappop(self._deadlines)
                self._live.pop(ticket, None)
                if tells:
                    self._fired_at = now
                _shut_down(connection)


class _Watch:
    __slots__ = ("_connection", "_dog", "_tells", "_ticket", "_timeout")

    def __init__(self, dog, connection, timeout, tells):
        self._dog, self._connection, self._timeout, self._tells = dog, connection, timeout, tells

    def __enter__(self):
        self._ticket = self._dog._add(self._connection, self._timeout, self._tells)
        return self

    def __exit__(self, *exc):
        self._dog._remove(self._ticket)


def _shut_down(connection):
    """End the connection under the statement that waits on it: its recv() returns, and
    psycopg2 raises OperationalError in the waiting thread."""
    try:
        duplicate = socket.socket(fileno=os.dup(connection.fileno()))
    except (OSError, ValueError, AttributeError):
        return  # already closed
    try:
        duplicate.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        duplicate.close()


GATE = _Gate()
WATCHDOG = _Watchdog()
