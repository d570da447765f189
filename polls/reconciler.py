"""The reconciler: the cache's state compared with the database's, and repaired.

polls/results_cache/ keeps results fresh as long as every change reaches Redis. When
one does not (Redis paused or partitioned while a vote was acknowledged, a process killed
before it could retry, Redis restarted with old data, a vote written with psql), a good
entry is left whose version differs from what the database now says. Each pass compares
the two for every cached poll and gives the ones that differ a new generation, so their
next read is built again, and wakes their streams: a change nobody announced. It keeps no
record of what it sent, so a pass that fails (Redis or PostgreSQL away) is just done again.

The same goes for cacheops' cached poll and option querysets, which cacheops drops when
the ORM writes: a write it did not see (psql) or whose drop failed, and a Redis server
that is not the one of the last pass (a restart, a failover), clear both models.
"""

import logging
import warnings

from cacheops import invalidate_model
from django.db import connection

from polls.models import Option, Poll
from polls.notifier import notify
from polls.results_cache import CacheUnavailable, Version

logger = logging.getLogger(__name__)

VERSIONS = """
    SELECT poll_id, poll_digest, total_votes FROM poll_results_version
    WHERE poll_id = ANY(%s)
"""
# One digest of every poll and option row version (a few milliseconds per thousand polls).
CATALOG = """
    SELECT md5(COALESCE(string_agg(poll_id || ':' || poll_digest, ',' ORDER BY poll_id), ''))
    FROM poll_results_version
"""


class Reconciler:
    def __init__(self, cache):
        self.cache = cache
        self._query_cache_state = None  # (Redis server, catalog) it was last cleared for
        self._clear_again = False

    def run_once(self) -> list[int]:
        """One pass: the polls whose cached results it repaired. Raises
        results_cache.CacheUnavailable or DatabaseError; the next pass starts over."""
        repaired = self._repair_results()
        self._repair_query_cache()
        return repaired

    def _repair_results(self) -> list[int]:
        cached = self.cache.good_versions()
        if not cached:
            return []
        with connection.cursor() as cursor:
            cursor.execute(VERSIONS, [list(cached)])
            now = {poll_id: Version(digest, total) for poll_id, digest, total in cursor}
        stale = sorted(
            poll_id for poll_id, version in cached.items() if now.get(poll_id) != version
        )
        if stale:
            self.cache.replace_generations(stale)
            notify(stale)
        return stale

    def _repair_query_cache(self):
        with connection.cursor() as cursor:
            cursor.execute(CATALOG)
            (catalog,) = cursor.fetchone()
        state = (self.cache.server_id(), catalog)
        if state != self._query_cache_state:
            # Cleared on the change and once more on the pass after it: a read that saw
            # the old rows just before the change committed may have stored them since.
            self._clear_query_cache()
            self._query_cache_state, self._clear_again = state, True
        elif self._clear_again:
            self._clear_query_cache()
            self._clear_again = False

    @staticmethod
    def _clear_query_cache():
        # cacheops degrades on a Redis failure (CACHEOPS_DEGRADE_ON_FAILURE): it warns
        # instead of raising. Turn its warning back into a failure, so this is retried.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            invalidate_model(Poll)
            invalidate_model(Option)
        if any(issubclass(w.category, RuntimeWarning) for w in caught):
            raise CacheUnavailable(str(caught[0].message))
