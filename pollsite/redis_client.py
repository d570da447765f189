"""The one way the service reaches Redis: a plain server (REDIS_URL), or the master that
Redis Sentinel names (REDIS_SENTINELS, REDIS_SENTINEL_MASTER; docs/scaling.md).

With Sentinel, a client built here asks the sentinels for the master's address when it
connects, and again after a connection fails, so a failover is followed by every user of
Redis at once: the results cache, the attempt counters, cacheops (through
CACHEOPS_SENTINEL, the same sentinels) and Django's cache (SentinelPool). A client never
reads from a replica: the results cache's guarantee needs the server that took the last
change, and a Redis replica lags its master.

What a failover costs the cache's freshness is the reconciler's business: a promoted
replica may miss the last changes its master took (replication is asynchronous), which
is a Redis "back with old data", and polls/reconciler.py repairs such entries within its
bound (docs/api-contract.md).
"""

from typing import Any

import redis
from django.conf import settings
from redis.sentinel import Sentinel, SentinelConnectionPool


def sentinel_locations() -> list[tuple[str, int]]:
    """REDIS_SENTINELS ("host:port,host:port") as (host, port) pairs."""
    locations = []
    for item in settings.REDIS_SENTINELS:
        host, _, port = item.rpartition(":")
        locations.append((host, int(port)))
    return locations


def _sentinel(**options: Any) -> Sentinel:
    # The sentinels are asked with the same short timeouts as Redis itself: a dead
    # sentinel must not hold a request longer than a dead Redis would.
    return Sentinel(
        sentinel_locations(),
        sentinel_kwargs={
            "socket_connect_timeout": settings.REDIS_CONNECT_TIMEOUT,
            "socket_timeout": settings.REDIS_SOCKET_TIMEOUT,
        },
        **options,
    )


def connect(**options: Any) -> redis.Redis:
    """A client of the current master, with `options` (timeouts, ...) on its connections."""
    if settings.REDIS_SENTINELS:
        client: redis.Redis = _sentinel().master_for(settings.REDIS_SENTINEL_MASTER, **options)
        return client
    return redis.Redis.from_url(settings.REDIS_URL, **options)


def describe() -> str:
    """Where Redis is, for /readyz and logs (no password)."""
    if settings.REDIS_SENTINELS:
        return f"sentinel:{settings.REDIS_SENTINEL_MASTER}"
    return "url"


class SentinelPool(SentinelConnectionPool):
    """Django's RedisCache builds its pool with `pool_class.from_url(location, **options)`;
    with Sentinel the location names nothing, and the pool follows the master instead."""

    @classmethod
    def from_url(cls, url: str, **options: Any) -> "SentinelPool":
        return cls(settings.REDIS_SENTINEL_MASTER, _sentinel(), **options)
