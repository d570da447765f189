"""Refresh the results snapshots (materialized views), once or every N seconds."""

import signal
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections

from polls.models import PollResultsSnapshot, VoteTimelineSnapshot
from polls.services import snapshot_refresh


def intervals(every):
    """How often each snapshot is refreshed. poll_results_mv reads the counters, so it is
    cheap at any size; vote_timeline_mv counts the ballots per minute, a scan of every
    vote (0.34 s at 1,000,000 votes on the bench's stack, as a burst on the shared cores
    every pass): its buckets are minutes, so it is refreshed every
    TIMELINE_REFRESH_SECONDS."""
    return {PollResultsSnapshot: every, VoteTimelineSnapshot: settings.TIMELINE_REFRESH_SECONDS}


class Command(BaseCommand):
    help = (
        "REFRESH MATERIALIZED VIEW CONCURRENTLY poll_results_mv (every pass) and "
        "vote_timeline_mv (every TIMELINE_REFRESH_SECONDS; readers never wait), then drop "
        "cached reads of them."
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
            self.stdout.write(
                f"refreshing poll_results_mv every {every:g}s, vote_timeline_mv every "
                f"{settings.TIMELINE_REFRESH_SECONDS:g}s"
            )
        every_of = intervals(every)
        next_at = dict.fromkeys(every_of, 0.0)  # every snapshot is due at the first pass
        while not stop.is_set():
            started = time.monotonic()
            close_old_connections()  # a long-lived loop: never reuse a broken connection
            for snapshot in [s for s, due in next_at.items() if due <= started]:
                next_at[snapshot] = started + every_of[snapshot]
                self._refresh(snapshot)
            if not every:
                return
            stop.wait(max(0.0, every - (time.monotonic() - started)))

    def _refresh(self, snapshot):
        try:
            snapshot_refresh(snapshot)
        except DatabaseError as exc:
            self.stderr.write(f"could not refresh {snapshot._meta.db_table}: {exc}")
            close_old_connections()
            return
        if self.verbosity >= 2:
            self.stdout.write(f"refreshed {snapshot._meta.db_table}")
