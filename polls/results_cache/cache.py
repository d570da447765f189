"""ResultsCache: reads, changes and the reconciler's questions, over the Redis store
(redis_store.py), this process's slots and the thread that renews their leases
(leases.py), and what each slot holds (entry.py)."""

import time

from django.conf import settings

from polls.results_cache.entry import Held, by_the_clock
from polls.results_cache.leases import LeaseKeeper, Slots
from polls.results_cache.redis_store import CacheUnavailable, RedisStore


class ResultsCache:
    """build(poll_id) -> (Version, results) | None reads the database; `results` needs a
    `status_until` (a datetime or None) and must pickle. After Redis fails, calls wait
    `retry_seconds` (RESULTS_CACHE_RETRY_SECONDS) before they try it again."""

    def __init__(self, build, *, retry_seconds=None):
        self._build = build
        self._store = RedisStore(
            retry_seconds=retry_seconds or settings.RESULTS_CACHE_RETRY_SECONDS
        )
        self._slots = Slots()
        self._keeper = LeaseKeeper(self._slots, renew=self._fetch)

    def read(self, poll_id):
        """The poll's results, or None for no such poll."""
        started = time.monotonic()
        slot = self._slots.of(poll_id)
        slot.read_at = started
        results = slot.current(started)
        if results is not None:
            return results
        self._keeper.wake()
        with slot.lock:
            results = slot.current(started)  # another thread just fetched them
            if results is not None:
                return results
            return self._fetch(poll_id, slot)

    def read_many(self, poll_ids, build_many):
        """read() for several polls at once (a page of them): {poll id: results}, unknown
        polls left out. Those that neither this process nor Redis holds are built with
        one call, build_many(poll ids) -> {poll id: (Version, results)}, so a page costs
        one database statement whatever its size. The protocol is read()'s, poll by
        poll: its generation is read (and its lease taken) before the database is, and
        what is built is stored only if that generation is still current."""
        started = time.monotonic()
        lease = settings.RESULTS_LEASE_SECONDS
        found, missing = {}, {}
        for poll_id in poll_ids:
            slot = self._slots.of(poll_id)
            slot.read_at = started
            results = slot.current(started)
            if results is not None:
                found[poll_id] = results
                continue
            asked = time.monotonic()
            try:
                generation, results = self._store.read(poll_id, lease_seconds=lease)
            except CacheUnavailable:
                missing[poll_id] = (None, asked, asked)  # built, not stored, not kept
                continue
            if results is not None and by_the_clock(results):
                found[poll_id] = self._hold(slot, (None, results), asked, until=asked + lease)
            else:
                missing[poll_id] = (generation, asked, asked + lease)
        if len(found) < len(poll_ids):
            self._keeper.wake()
        built = build_many(list(missing)) if missing else {}
        for poll_id, (generation, asked, until) in missing.items():
            one = built.get(poll_id)
            if one is not None and until > asked:
                self._store.store_if_current(poll_id, generation, *one)
            found[poll_id] = self._hold(self._slots.of(poll_id), one, asked, until=until)
        return {poll_id: results for poll_id, results in found.items() if results is not None}

    def changed(self, poll_ids):
        """After a change to these polls committed, before it is acknowledged: give each
        poll a new generation and wait out the leases on them, this process's included
        (its copies, renewed at once by the keeper, serve the reads that start before the
        answer goes out, as anyone's may). Never raises: an announcement Redis missed is
        kept for later, and then the wait is a whole lease."""
        wait = self._store.announce(poll_ids)
        if wait is None:
            wait = settings.RESULTS_LEASE_SECONDS
        for poll_id in poll_ids:
            self._slots.of(poll_id).changed = True
        self._keeper.wake()
        if wait > 0:
            time.sleep(wait)

    # -- for the reconciler ----------------------------------------------------------------

    def replace_generations(self, poll_ids):
        """New generations for these polls, now (the reconciler's repair; no lease wait:
        its bound is documented on its own)."""
        self._store.replace(poll_ids)

    def good_versions(self):
        return self._store.good_versions()

    def server_id(self):
        return self._store.server_id()

    def reset(self):
        """Forget everything held and close the breaker (tests)."""
        self._slots.clear()
        self._store.reset()

    # -- plumbing ------------------------------------------------------------------------

    def _fetch(self, poll_id, slot):
        """Ask Redis for the poll (a lease from now), else the database; hold the answer."""
        asked = time.monotonic()
        lease = settings.RESULTS_LEASE_SECONDS
        try:
            generation, results = self._store.read(poll_id, lease_seconds=lease)
        except CacheUnavailable:
            return self._hold(slot, self._build(poll_id), asked, until=asked)
        if results is not None and by_the_clock(results):
            return self._hold(slot, (None, results), asked, until=asked + lease)
        built = self._build(poll_id)
        if built is not None:
            self._store.store_if_current(poll_id, generation, *built)
        return self._hold(slot, built, asked, until=asked + lease)

    @staticmethod
    def _hold(slot, built, asked, *, until):
        if built is None:
            slot.held = None
            return None
        results = built[1]
        slot.held = Held.of(results, asked=asked, until=until)
        return results
