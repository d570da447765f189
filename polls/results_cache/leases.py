"""Each process's slots, one per poll it serves, and the thread that renews their leases
before they run out, so that a read almost never waits for Redis or for a rebuild."""

import logging
import threading
import time

from django.conf import settings
from django.db import connection

from pollsite.threads import BackgroundThread

logger = logging.getLogger(__name__)

HOT_SECONDS = 1.0  # a poll read this recently has its lease renewed ahead of time
MAX_SLOTS = 10_000  # polls come and go: never grow without end


class Slot:
    """One poll in one process: what it holds (an entry.Held), when it was last read, and
    a lock so that one thread at a time asks Redis or the database for it (the others
    wait and take its answer)."""

    __slots__ = ("held", "lock", "read_at", "changed")

    def __init__(self):
        self.held = None
        self.lock = threading.Lock()
        self.read_at = 0.0
        self.changed = False  # a change here was announced: renew without waiting

    def current(self, started):
        """The results held, if a read that started at `started` may use them."""
        held = self.held
        if held is None or not held.serves(started):
            return None
        return held.results


class Slots:
    def __init__(self):
        self._slots = {}
        self._lock = threading.Lock()

    def of(self, poll_id):
        slot = self._slots.get(poll_id)
        if slot is None:
            with self._lock:
                if len(self._slots) > MAX_SLOTS:
                    self._slots.clear()
                slot = self._slots.setdefault(poll_id, Slot())
        return slot

    def read_lately(self, now):
        """(poll id, slot) of every poll read in the last HOT_SECONDS."""
        return [(p, s) for p, s in list(self._slots.items()) if now - s.read_at < HOT_SECONDS]

    def clear(self):
        self._slots.clear()


class LeaseKeeper:
    """A thread that renews, through `renew(poll_id, slot)`, the lease of every poll read
    in the last HOT_SECONDS once less than half of it is left: so a read does not wait
    for Redis, nor for a rebuild after a vote (the renewal that meets the new generation
    rebuilds, most often before the old lease ends). A change announced here wakes it at
    once. A poll nobody reads is let go; with none, it sleeps until a read needs it."""

    def __init__(self, slots, renew):
        self._slots = slots
        self._renew = renew
        self._wake = threading.Event()
        self._thread = BackgroundThread(self._keep, name="results-lease-keeper")

    def wake(self):
        self._thread.ensure_running()
        self._wake.set()

    def _keep(self):
        lease = settings.RESULTS_LEASE_SECONDS
        hot = True  # until the first pass: whether any poll was read lately
        while True:
            if not hot:
                connection.close()  # hold no database connection while nothing is read
            self._wake.wait(lease / 4 if hot else None)
            self._wake.clear()
            read_lately = self._slots.read_lately(time.monotonic())
            hot = bool(read_lately)
            for poll_id, slot in read_lately:
                self._renew_if_due(poll_id, slot, lease)

    def _renew_if_due(self, poll_id, slot, lease):
        held = slot.held
        if held is None:
            return
        if not slot.changed and held.until - time.monotonic() > lease / 2:
            return
        slot.changed = False
        if not slot.lock.acquire(blocking=False):
            return  # a reader is fetching it right now
        try:
            self._renew(poll_id, slot)
        except Exception:  # the database is away: readers will say so themselves
            logger.debug("could not renew the results of poll %s", poll_id, exc_info=True)
            connection.close()  # this thread's; the next renewal connects again
        finally:
            slot.lock.release()
