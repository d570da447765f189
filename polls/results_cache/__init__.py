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

The package, by job:
- redis_store.py: the Redis side (keys, and the Lua scripts beside it: read.lua,
  change.lua, store_if_current.lua), the breaker, the changes still to announce;
- entry.py: what a process holds of a poll, and until when it may serve it;
- leases.py: the process's slots, and the thread that renews their leases (part 2);
- cache.py: ResultsCache, which ties them together.
"""

from polls.results_cache.cache import ResultsCache
from polls.results_cache.redis_store import CacheUnavailable, Version

__all__ = ["CacheUnavailable", "ResultsCache", "Version"]
