"""Compare cached results with the database, and repair what differs (polls/reconciler.py)."""

import signal
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections, connection

from polls.reconciler import Reconciler
from polls.results_cache import CacheUnavailable, ResultsCache
from pollsite.single_actor import SingleActor

RECONCILER_LOCK = 0x7265636F  # the advisory lock's key ("reco"): one reconciler acts


class Command(BaseCommand):
    help = (
        "Every RESULTS_RECONCILE_SECONDS, compare each cached results entry with the "
        "database's version of that poll and repair the ones that differ: a change whose "
        "announcement Redis missed, or a vote written outside the API (psql, imports). "
        "Any number may run (one per node); one acts at a time, and another takes over "
        "within 2 s if it stops or goes still."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--every",
            type=float,
            default=settings.RESULTS_RECONCILE_SECONDS,
            metavar="SECONDS",
            help="Seconds between two passes (default: RESULTS_RECONCILE_SECONDS).",
        )
        parser.add_argument("--once", action="store_true", help="One pass, then exit.")

    def handle(self, *args, every, once, **options):
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        # A cache client of its own that tries Redis again at every pass: the app's
        # waits RESULTS_CACHE_RETRY_SECONDS after a failure, and this one is the repair.
        reconciler = Reconciler(ResultsCache(build=None, retry_seconds=every))
        # Any number may run (one per node): one acts at a time (pollsite/single_actor.py).
        actor = SingleActor(
            settings.DATABASE_URL,
            RECONCILER_LOCK,
            stale_after=every * 8,
            socket_timeout=settings.DB_SOCKET_TIMEOUT,
        )
        if not once:
            self.stdout.write(f"reconciling cached results every {every:g}s")
        failing = None  # what failed last pass, said once until it recovers
        while not stop.is_set():
            started = time.monotonic()
            if once or actor.acting():
                failing = self._pass(reconciler, failing)
            if once:
                return
            stop.wait(max(0.0, every - (time.monotonic() - started)))

    def _pass(self, reconciler, failing):
        close_old_connections()  # never reuse a connection a restarted database broke
        try:
            repaired = reconciler.run_once()
        except (CacheUnavailable, DatabaseError) as exc:
            problem = "Redis" if isinstance(exc, CacheUnavailable) else "PostgreSQL"
            if problem != failing:
                self.stderr.write(f"{problem} unavailable ({exc.__cause__ or exc}); retrying")
            connection.close()
            return problem
        if failing:
            self.stdout.write(f"{failing} answers again")
        if repaired:
            self.stdout.write(f"repaired cached results of poll(s) {repaired}")
        return None
