"""The results cache: a poll's rendered results, shared through Redis, held in each
process, and never older than a change (a vote, a poll edit) whose answer has been sent.

How, in three parts:

1. Generations. Redis keeps per poll a generation (a random token) and the entry built
   from the database: the generation it was built under, the database version it shows
   (sql/poll_results_version.sql) and the rendered results. An entry is good while its
   generation is the poll's current one. A change commits, then replaces the generation.
   A builder reads the generation *before* the database and stores its entry only if the
   generation is still that one, so a good entry always includes every change announced
   before it. Tokens are random, so no generation ever comes back by counting up again.

2. Leases. A process that asks Redis about a poll may then serve what it got for LEASE
   seconds, measured from the moment it asked, without asking again; the same request
   that reads the generation also records in Redis that a lease on the poll runs until
   LEASE after it. A change, in the same request that replaces the generation, learns
   how long the poll's last lease still runs, and waits that long before its answer (the
   201) is sent. So every copy that was asked for before the new generation has expired
   when the answer goes out, and any copy a process still holds was asked for after it:
   no copy older than an acknowledged change is served. Only durations are compared
   (Redis's clock for the lease, each process's monotonic clock for its copy), so clocks
   need not agree, only tick at the same rate. A read is then a dictionary lookup, and a
   vote on a poll nobody is reading waits for nothing. Each process renews, in a thread
   of its own, the leases of the polls it is serving before they run out (at once after
   it announced a change there), so a read almost never waits for Redis or for a rebuild.

3. Faults. While Redis cannot be reached (a breaker opens at the first failure and lets
   a call through again after RESULTS_CACHE_RETRY_SECONDS), reads are built from the
   database and shared only by the reads that were already waiting when the build began
   (no lease: none could be recorded); a change then waits a full LEASE, since it cannot
   learn what leases run. A change that could not be announced is kept and announced
   before anything else once Redis answers. Whatever else went wrong (Redis paused with
   writes queued, partitioned from one process, restarted with old data, a process killed
   before it could retry, a vote written with psql) leaves a good entry whose version
   differs from the database's: polls/reconciler.py compares the two for every cached
   poll each pass and replaces the generation where they differ. It remembers nothing
   that it sent, so a failed pass is simply done again by the next one: the bound in
   docs/api-contract.md.
"""

import contextlib
import logging
import os
import pickle
import threading
import time
from dataclasses import dataclass

import pybreaker
import redis
from django.conf import settings
from django.db import connection

from pollsite import redis_client

logger = logging.getLogger(__name__)

PREFIX = "results:v1"
HOT_SECONDS = 1.0  # a poll read this recently has its lease renewed ahead of time
INDEX_KEY = f"{PREFIX}:polls"  # the ids of the polls with an entry, for the reconciler

# A read: record the lease, then the generation and the entry.
#   KEYS: generation, entry, lease; ARGV: lease in milliseconds
READ = """
redis.call('SET', KEYS[3], '1', 'PX', ARGV[1])
return redis.call('MGET', KEYS[1], KEYS[2])
"""
# A change: new generations, and how many milliseconds the longest lease still runs.
#   KEYS: generation and lease of each poll; ARGV: ttl, then each poll's new generation
CHANGE = """
local wait = 0
for i = 1, #KEYS, 2 do
    redis.call('SET', KEYS[i], ARGV[(i + 1) / 2 + 1], 'EX', ARGV[1])
    wait = math.max(wait, redis.call('PTTL', KEYS[i + 1]))
end
return wait
"""
# Store an entry only if the generation it was built under is still current, and never
# over an entry of that generation that counts more votes (two builders under one
# generation may read the database at different moments; the later snapshot wins). With
# no generation yet (a fresh or restarted Redis), start one with the entry.
#   KEYS: generation, entry, version, index
#   ARGV: expected generation ('' for none), generation to start, entry, version stamp,
#         ttl, poll id, total votes
STORE_IF_CURRENT = """
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '' then
    if current then return 0 end
    redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[5])
elseif current ~= ARGV[1] then
    return 0
else
    local stored = redis.call('GET', KEYS[3])
    if stored then
        local generation, total = string.match(stored, '^([^|]*)|[^|]*|(%d+)$')
        if generation == ARGV[1] and tonumber(total) > tonumber(ARGV[7]) then return 0 end
    end
end
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[5])
redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5])
redis.call('SADD', KEYS[4], ARGV[6])
return 1
"""


class CacheUnavailable(Exception):
    """Redis did not answer, or the breaker is open."""


@dataclass(frozen=True)
class Version:
    """What a results document was built from: sql/poll_results_version.sql."""

    poll_digest: str
    total_votes: int


@dataclass(frozen=True)
class _Held:
    results: object
    asked: float  # monotonic: when it was asked for; reads that began before may use it
    until: float  # monotonic: the end of its lease (no later than `asked` without one)
    status_until: float | None  # epoch seconds: the clock changes the status then


class _Slot:
    """One poll in one process: what it holds, when it was last read, and a lock so that
    one thread at a time asks Redis or the database for it (the others wait and take its
    answer)."""

    __slots__ = ("held", "lock", "read_at", "changed")

    def __init__(self):
        self.held = None
        self.lock = threading.Lock()
        self.read_at = 0.0
        self.changed = False  # a change here was announced: renew without waiting

    def current(self, started):
        """The results held, if a read that started at `started` may use them: they were
        asked for after it started, or under a lease that still runs."""
        held = self.held
        if held is None or (started >= held.until and started > held.asked):
            return None
        if held.status_until is not None and time.time() >= held.status_until:
            return None  # opened or closed since: render again
        return held.results


def _keys(poll_id):
    return (f"{PREFIX}:{poll_id}:gen", f"{PREFIX}:{poll_id}", f"{PREFIX}:{poll_id}:version")


def _lease_key(poll_id):
    return f"{PREFIX}:{poll_id}:lease"


def _new_generation():
    return os.urandom(8).hex()


class ResultsCache:
    """build(poll_id) -> (Version, results) | None reads the database; `results` needs a
    `status_until` (a datetime or None) and must pickle. After Redis fails, calls wait
    `retry_seconds` (RESULTS_CACHE_RETRY_SECONDS) before they try it again."""

    def __init__(self, build, *, retry_seconds=None):
        self._build = build
        self._slots = {}
        self._slots_lock = threading.Lock()
        self._pending = set()  # polls whose change Redis has not heard of yet
        self._pending_lock = threading.Lock()
        self._client = None
        self._scripts = {}
        self._keeper = None  # the thread that renews leases (_keep), started on first use
        self._wake = threading.Event()
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=1,
            reset_timeout=retry_seconds or settings.RESULTS_CACHE_RETRY_SECONDS,
            throw_new_error_on_trip=False,
            listeners=[_SayWhenRedisComesAndGoes()],
            name="results cache",
        )

    # -- reads ---------------------------------------------------------------------------

    def read(self, poll_id):
        """The poll's results, or None for no such poll."""
        started = time.monotonic()
        slot = self._slot(poll_id)
        slot.read_at = started
        results = slot.current(started)
        if results is not None:
            return results
        self._keep_renewing()
        with slot.lock:
            results = slot.current(started)  # another thread just fetched them
            if results is not None:
                return results
            return self._fetch(poll_id, slot)

    # -- the keeper: leases renewed before they run out -----------------------------------

    def _keep_renewing(self):
        if self._keeper is None:
            with self._slots_lock:
                if self._keeper is None:
                    self._keeper = threading.Thread(
                        target=self._keep, name="results-lease-keeper", daemon=True
                    )
                    self._keeper.start()
        self._wake.set()

    def _keep(self):
        """Renew the lease of every poll read in the last HOT_SECONDS once less than half
        of it is left, so that a read does not wait for Redis, nor for a rebuild after a
        vote (the renewal that meets the new generation rebuilds, most often before the
        old lease ends). A change announced here wakes it at once. A poll nobody reads is
        let go; with none, this sleeps until a read needs it."""
        lease = settings.RESULTS_LEASE_SECONDS
        hot: bool | list[tuple[int, _Slot]] = True
        while True:
            if not hot:
                connection.close()  # hold no database connection while nothing is read
            self._wake.wait(lease / 4 if hot else None)
            self._wake.clear()
            now = time.monotonic()
            hot = [(p, s) for p, s in list(self._slots.items()) if now - s.read_at < HOT_SECONDS]
            for poll_id, slot in hot:
                held = slot.held
                if held is None:
                    continue
                if not slot.changed and held.until - time.monotonic() > lease / 2:
                    continue
                slot.changed = False
                if not slot.lock.acquire(blocking=False):
                    continue  # a reader is fetching it right now
                try:
                    self._fetch(poll_id, slot)
                except Exception:  # the database is away: readers will say so themselves
                    logger.debug("could not renew the results of poll %s", poll_id, exc_info=True)
                    connection.close()  # this thread's; the next renewal connects again
                finally:
                    slot.lock.release()

    def _fetch(self, poll_id, slot):
        asked = time.monotonic()
        lease = settings.RESULTS_LEASE_SECONDS
        gen_key, entry_key, _ = _keys(poll_id)
        try:
            generation, blob = self._call(
                lambda r: self._script(r, READ)(
                    keys=[gen_key, entry_key, _lease_key(poll_id)],
                    args=[max(1, round(lease * 1000))],
                )
            )
        except CacheUnavailable:
            return self._hold(slot, self._build(poll_id), asked, until=asked)
        if generation is not None and blob is not None:
            entry_generation, _, results = pickle.loads(blob)  # noqa: S301 - our own Redis
            if entry_generation == generation and _by_the_clock(results):
                return self._hold(slot, (None, results), asked, until=asked + lease)
        built = self._build(poll_id)
        if built is not None:
            self._store_if_current(poll_id, generation, built)
        return self._hold(slot, built, asked, until=asked + lease)

    @staticmethod
    def _hold(slot, built, asked, *, until):
        if built is None:
            slot.held = None
            return None
        results = built[1]
        status_until = results.status_until.timestamp() if results.status_until else None
        slot.held = _Held(results, asked, until, status_until)
        return results

    def _store_if_current(self, poll_id, generation, built):
        version, results = built
        expected = generation.decode() if generation is not None else ""
        entry_generation = expected or _new_generation()
        entry = pickle.dumps((entry_generation.encode(), version, results))
        stamp = f"{entry_generation}|{version.poll_digest}|{version.total_votes}"
        args = [expected, entry_generation, entry, stamp, _ttl(), poll_id, version.total_votes]
        # If Redis is away, these were served from the database; the next read tries again.
        with contextlib.suppress(CacheUnavailable):
            self._call(
                lambda r: self._script(r, STORE_IF_CURRENT)(
                    keys=[*_keys(poll_id), INDEX_KEY], args=args
                )
            )

    # -- changes ---------------------------------------------------------------------------

    def changed(self, poll_ids):
        """After a change to these polls committed, before it is acknowledged: give each
        poll a new generation and wait out the leases on them, this process's included
        (its copies, renewed at once by the keeper, serve the reads that start before the
        answer goes out, as anyone's may). Never raises: an announcement Redis missed is
        kept for later, and then the wait is a whole lease."""
        try:
            wait = self._call(lambda r: self._replace(r, poll_ids))
        except CacheUnavailable:
            with self._pending_lock:
                self._pending.update(poll_ids)
            wait = settings.RESULTS_LEASE_SECONDS
        for poll_id in poll_ids:
            self._slot(poll_id).changed = True
        self._wake.set()
        if wait > 0:
            time.sleep(wait)

    def replace_generations(self, poll_ids):
        """New generations for these polls, now (the reconciler's repair; no lease wait:
        its bound is documented on its own)."""
        self._call(lambda r: self._replace(r, poll_ids))

    def _announce_pending(self, client):
        """Announce the changes Redis missed. Their answers went out a whole lease after
        they committed, so nothing waits on the leases found now."""
        with self._pending_lock:
            polls, self._pending = self._pending, set()
        try:
            self._replace(client, polls)
        except Exception:
            with self._pending_lock:
                self._pending |= polls
            raise

    def _replace(self, client, poll_ids):
        """New generations; the seconds that the longest lease on these polls still runs."""
        poll_ids = list(poll_ids)
        if not poll_ids:
            return 0
        keys = [key for poll_id in poll_ids for key in (_keys(poll_id)[0], _lease_key(poll_id))]
        args = [_ttl(), *(_new_generation() for _ in poll_ids)]
        milliseconds = self._script(client, CHANGE)(keys=keys, args=args)
        # PTTL rounds down to the millisecond: one more covers what it dropped.
        return (milliseconds + 1) / 1000 if milliseconds > 0 else 0

    # -- for the reconciler ------------------------------------------------------------------

    def good_versions(self):
        """{poll id: Version} of every poll whose cached entry is good (built under its
        current generation); ids whose entry has expired leave the index."""
        ids = [int(i) for i in self._call(lambda r: r.smembers(INDEX_KEY))]
        if not ids:
            return {}
        keys = [key for poll_id in ids for key in _keys(poll_id)[::2]]  # generation, version
        values = self._call(lambda r: r.mget(keys))
        good, expired = {}, []
        for poll_id, generation, stamp in zip(ids, values[::2], values[1::2], strict=True):
            if stamp is None:
                expired.append(poll_id)
                continue
            entry_generation, digest, total = stamp.decode().split("|")
            if generation is not None and generation.decode() == entry_generation:
                good[poll_id] = Version(digest, int(total))
        if expired:
            self._call(lambda r: r.srem(INDEX_KEY, *expired))
        return good

    def server_id(self):
        """The Redis server's run id: a new one means a restart or a failover, and so
        possibly old data."""
        return self._call(lambda r: r.info("server")["run_id"])

    # -- plumbing ------------------------------------------------------------------------------

    def _slot(self, poll_id):
        slot = self._slots.get(poll_id)
        if slot is None:
            with self._slots_lock:
                if len(self._slots) > 10_000:  # polls come and go; never grow without end
                    self._slots.clear()
                slot = self._slots.setdefault(poll_id, _Slot())
        return slot

    def _call(self, operation):
        """operation(client) through the breaker, after anything still to announce."""

        def run():
            client = self._redis()
            if self._pending:
                self._announce_pending(client)
            return operation(client)

        try:
            return self._breaker.call(run)
        except (redis.RedisError, pybreaker.CircuitBreakerError) as exc:
            raise CacheUnavailable from exc

    def _script(self, client, source):
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = client.register_script(source)
        return script

    def _redis(self):
        if self._client is None:
            with self._slots_lock:
                if self._client is None:
                    self._client = redis_client.connect(**settings.REDIS_OPTIONS)
        return self._client

    def reset(self):
        """Forget everything held and close the breaker (tests)."""
        self._slots.clear()
        self._pending.clear()
        self._breaker.close()
        if self._client is not None:
            self._client.close()
            self._client = None
            self._scripts.clear()


def _ttl():
    return settings.CACHEOPS_DEFAULTS["timeout"]


def _by_the_clock(results):
    """False when the status these results show has changed by the clock since."""
    until = results.status_until
    return until is None or time.time() < until.timestamp()


class _SayWhenRedisComesAndGoes(pybreaker.CircuitBreakerListener):
    def state_change(self, cb, old_state, new_state):
        if new_state.name == pybreaker.STATE_OPEN and old_state.name != pybreaker.STATE_HALF_OPEN:
            logger.warning("results cache: Redis unavailable; results come from the database")
        elif new_state.name == pybreaker.STATE_CLOSED:
            logger.warning("results cache: Redis answers again")
