"""The results cache's Redis side: per poll a generation, the entry built under one, the
entry's version stamp and a lease marker, and the set of polls that have an entry (for
the reconciler). What must happen at once is one Lua script, kept beside this file:
read.lua (a lease, then the generation and the entry), change.lua (new generations, and
how long the leases on them still run), store_if_current.lua (an entry, only under the
generation it was built from).

Every call goes through a breaker: after a failure, calls fail at once (CacheUnavailable)
for `retry_seconds`. A change that could not be announced is kept, and announced before
anything else by the first call that reaches Redis again.
"""

import contextlib
import logging
import os
import pickle
import threading
from dataclasses import dataclass
from pathlib import Path

import pybreaker
import redis
from django.conf import settings

from pollsite import redis_client

logger = logging.getLogger(__name__)

PREFIX = "results:v1"
INDEX_KEY = f"{PREFIX}:polls"  # the ids of the polls with an entry, for the reconciler
SCRIPTS = Path(__file__).resolve().parent


class CacheUnavailable(Exception):
    """Redis did not answer, or the breaker is open."""


@dataclass(frozen=True)
class Version:
    """What a results document was built from: sql/poll_results_version.sql."""

    poll_digest: str
    total_votes: int


def _keys(poll_id):
    return (f"{PREFIX}:{poll_id}:gen", f"{PREFIX}:{poll_id}", f"{PREFIX}:{poll_id}:version")


def _lease_key(poll_id):
    return f"{PREFIX}:{poll_id}:lease"


def _new_generation():
    # Random, so that no generation ever comes back by counting up again.
    return os.urandom(8).hex()


def _ttl():
    return settings.CACHEOPS_DEFAULTS["timeout"]


class RedisStore:
    def __init__(self, *, retry_seconds):
        self._client = None
        self._client_lock = threading.Lock()
        self._scripts = {}
        self._pending = set()  # polls whose change Redis has not heard of yet
        self._pending_lock = threading.Lock()
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=1,
            reset_timeout=retry_seconds,
            throw_new_error_on_trip=False,
            listeners=[_SayWhenRedisComesAndGoes()],
            name="results cache",
        )

    def read(self, poll_id, *, lease_seconds):
        """Record a lease of `lease_seconds` on the poll, and return its generation (None
        if it has none) and the results of its entry if they were built under that
        generation (else None)."""
        gen_key, entry_key, _ = _keys(poll_id)
        generation, blob = self._call(
            lambda r: self._script(r, "read.lua")(
                keys=[gen_key, entry_key, _lease_key(poll_id)],
                args=[max(1, round(lease_seconds * 1000))],
            )
        )
        if generation is None or blob is None:
            return generation, None
        entry_generation, _, results = pickle.loads(blob)  # noqa: S301 - our own Redis
        return generation, results if entry_generation == generation else None

    def store_if_current(self, poll_id, generation, version, results):
        """Store what was built after reading `generation` (None: the poll had none), if
        that is still the poll's generation. If Redis is away, nothing is stored: the
        results were served from the database, and the next read tries again."""
        expected = generation.decode() if generation is not None else ""
        entry_generation = expected or _new_generation()
        entry = pickle.dumps((entry_generation.encode(), version, results))
        stamp = f"{entry_generation}|{version.poll_digest}|{version.total_votes}"
        args = [expected, entry_generation, entry, stamp, _ttl(), poll_id, version.total_votes]
        with contextlib.suppress(CacheUnavailable):
            self._call(
                lambda r: self._script(r, "store_if_current.lua")(
                    keys=[*_keys(poll_id), INDEX_KEY], args=args
                )
            )

    def announce(self, poll_ids):
        """New generations for these polls; the seconds that the longest lease on them
        still runs, or None when Redis did not answer: then the change is kept, to be
        announced before anything else once Redis answers."""
        try:
            return self.replace(poll_ids)
        except CacheUnavailable:
            with self._pending_lock:
                self._pending.update(poll_ids)
            return None

    def replace(self, poll_ids):
        """New generations for these polls, now; the seconds the longest lease on them
        still runs. Raises CacheUnavailable."""
        return self._call(lambda r: self._replace(r, poll_ids))

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

    def reset(self):
        """Forget what is pending, close the breaker and the connection (tests)."""
        self._pending.clear()
        self._breaker.close()
        if self._client is not None:
            self._client.close()
            self._client = None
            self._scripts.clear()

    # -- plumbing ------------------------------------------------------------------------

    def _replace(self, client, poll_ids):
        poll_ids = list(poll_ids)
        if not poll_ids:
            return 0
        keys = [key for poll_id in poll_ids for key in (_keys(poll_id)[0], _lease_key(poll_id))]
        args = [_ttl(), *(_new_generation() for _ in poll_ids)]
        milliseconds = self._script(client, "change.lua")(keys=keys, args=args)
        # PTTL rounds down to the millisecond: one more covers what it dropped.
        return (milliseconds + 1) / 1000 if milliseconds > 0 else 0

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

    def _script(self, client, name):
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = client.register_script((SCRIPTS / name).read_text())
        return script

    def _redis(self):
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = redis_client.connect(**settings.REDIS_OPTIONS)
        return self._client


class _SayWhenRedisComesAndGoes(pybreaker.CircuitBreakerListener):
    def state_change(self, cb, old_state, new_state):
        if new_state.name == pybreaker.STATE_OPEN and old_state.name != pybreaker.STATE_HALF_OPEN:
            logger.warning("results cache: Redis unavailable; results come from the database")
        elif new_state.name == pybreaker.STATE_CLOSED:
            logger.warning("results cache: Redis answers again")
