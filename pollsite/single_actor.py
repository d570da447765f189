"""One process of many acts at a time: a session advisory lock on a direct connection
(never through a transaction pooler, where a session lock would stay with a pooled
server connection), for a loop too frequent for the job engine (the reconciler, 0.25 s).

A lock alone would fail one shape of fault: its holder paused (SIGSTOP: it keeps its
connection and so its lock, and acts no more), and nobody else would act until it
resumed. So the holder touches its connection at every pass (pg_stat_activity's
state_change moves), and a process that cannot get the lock looks at the holder: one
whose connection has been still for longer than `stale_after` is ended
(pg_terminate_backend, allowed for the app's own role), and the lock is taken at the
next pass. A holder that resumes finds its connection gone and stops acting until it
holds the lock again; for the moment in between two may act, so what they do must be
safe twice (a reconciler pass is: it repairs the same entries whoever makes it).
"""

import contextlib
import logging

import psycopg2
import psycopg2.extensions

from pollsite.db_backend.base import WATCHDOG

logger = logging.getLogger(__name__)


class SingleActor:
    def __init__(
        self, dsn: str, key: int, *, stale_after: float, socket_timeout: float = 0
    ) -> None:
        self.dsn, self.key, self.stale_after = dsn, key, stale_after
        # A statement not answered in this long has its socket shut (0: never): a frozen
        # server keeps the connection open and answers nothing, and its holder would wait
        # with it, acting no more, until the server came back.
        self.socket_timeout = socket_timeout
        self._conn: psycopg2.extensions.connection | None = None
        self._held = False

    def acting(self) -> bool:
        """Whether this process holds the lock now (taking it if it is free, or ending a
        holder that went still). False while the database cannot be reached."""
        try:
            conn = self._connection()
            with WATCHDOG.watch(conn, self.socket_timeout, False):
                return self._take_or_keep(conn.cursor())
        except psycopg2.Error as exc:
            if self._held:
                logger.warning("lost the lock %s (%s)", self.key, type(exc).__name__)
            self.close()
            return False

    def _take_or_keep(self, cursor) -> bool:
        if self._held:
            cursor.execute("SELECT 1")  # the heartbeat: state_change moves
            return True
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [self.key])
        row = cursor.fetchone()
        self._held = bool(row and row[0])
        if not self._held:
            self._end_a_still_holder(cursor)
        return self._held

    def _end_a_still_holder(self, cursor) -> None:
        cursor.execute(
            "SELECT a.pid, extract(epoch FROM now() - a.state_change) FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
            "AND l.granted AND l.classid = 0 AND l.objid = %s AND a.state = 'idle'",
            [self.key],
        )
        row = cursor.fetchone()
        if row is not None and row[1] > self.stale_after:
            logger.warning(
                "lock %s holder (backend %s) still for %.1f s: ending it", self.key, *row
            )
            cursor.execute("SELECT pg_terminate_backend(%s)", [row[0]])

    def _connection(self) -> psycopg2.extensions.connection:
        if self._conn is None or self._conn.closed:
            conn = psycopg2.connect(self.dsn, connect_timeout=5)
            conn.autocommit = True
            self._conn, self._held = conn, False
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg2.Error):
                self._conn.close()
        self._conn, self._held = None, False
