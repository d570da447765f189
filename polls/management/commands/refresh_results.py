"""Refresh the results snapshots (materialized views), once or every N seconds."""

import signal
import threading
import time

from cacheops import invalidate_model
from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections
from django.utils import timezone

from polls.models import PollResultsSnapshot, ResultsSnapshot, VoteTimelineSnapshot

SNAPSHOTS = (PollResultsSnapshot, VoteTimelineSnapshot)


class Command(BaseCommand):
    help = (
        "REFRESH MATERIALIZED VIEW CONCURRENTLY poll_results_mv and vote_timeline_mv "
        "(readers never wait), then drop cached reads of them."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--every",
            type=float,
            default=0,
            metavar="SECONDS",
            help="Keep refreshing every SECONDS (default: once, then exit).",
        )

    def handle(self, *args, every, verbosity, **options):
        self.verbosity = verbosity
        if every < 0:
            self.stderr.write("--every must be positive")
            return
        stop = threading.Event()  # set by SIGTERM; also cuts the wait between refreshes
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        if every:
            self.stdout.write(f"refreshing results snapshots every {every:g}s")
        while not stop.is_set():
            started = time.monotonic()
            self._refresh_all()
            if not every:
                return
            stop.wait(max(0.0, every - (time.monotonic() - started)))

    def _refresh_all(self):
        close_old_connections()  # a long-lived loop: never reuse a broken connection
        for snapshot in SNAPSHOTS:
            started_at = timezone.now()  # the snapshot holds everything committed by then
            try:
                snapshot.refresh(concurrently=True)
            except DatabaseError as exc:
                self.stderr.write(f"could not refresh {snapshot._meta.db_table}: {exc}")
                close_old_connections()
                continue
            ResultsSnapshot.objects.update_or_create(
                name=snapshot._meta.db_table, defaults={"refreshed_at": started_at}
            )
            invalidate_model(snapshot)  # REFRESH happens behind the ORM's back
            if self.verbosity >= 2:
                self.stdout.write(f"refreshed {snapshot._meta.db_table}")
