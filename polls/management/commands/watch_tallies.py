"""Bring votes written outside the API into the cached results and the streams."""

import signal
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections, connection

from polls.notifier import notify
from polls.selectors import forget_results

# The counters summed per poll. It reads polls x options x 64 rows at most, never the votes: a
# few milliseconds even for thousands of polls, and nothing on the vote path pays for it.
TOTALS = "SELECT poll_id, SUM(votes)::bigint FROM polls_optiontally GROUP BY poll_id"


class Command(BaseCommand):
    help = (
        "Every TALLY_WATCH_SECONDS, compare each poll's vote total with the last one seen; "
        "for every poll that changed, drop its cached results and wake its streams. A vote "
        "through the API does both itself; this catches votes written by psql, imports or "
        "repair scripts, so their results are never staler than about that interval."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--every",
            type=float,
            default=settings.TALLY_WATCH_SECONDS,
            metavar="SECONDS",
            help="Seconds between two looks (default: TALLY_WATCH_SECONDS).",
        )

    def handle(self, *args, every, **options):
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        self.stdout.write(f"watching vote totals every {every:g}s")
        # Nothing seen yet: the first look treats every poll as changed, since votes may
        # have been written while no watcher ran.
        seen = {}
        while not stop.is_set():
            started = time.monotonic()
            totals = self._totals()
            if totals is not None:
                self._changed([p for p, n in totals.items() if seen.get(p) != n])
                seen = totals
            stop.wait(max(0.0, every - (time.monotonic() - started)))

    def _totals(self):
        close_old_connections()  # never reuse a connection a restarted database broke
        try:
            with connection.cursor() as cursor:
                cursor.execute(TOTALS)
                return dict(cursor.fetchall())
        except DatabaseError as exc:
            self.stderr.write(f"could not read the vote totals: {exc}")
            connection.close()
            return None

    def _changed(self, poll_ids):
        if not poll_ids:
            return
        for poll_id in poll_ids:
            forget_results(poll_id)
        try:
            notify(poll_ids)
        except DatabaseError as exc:
            self.stderr.write(f"could not wake the streams: {exc}")
