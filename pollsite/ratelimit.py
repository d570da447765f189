"""Fixed-window attempt counters in Redis, atomic under concurrency.

DRF's throttles read, then write, the cache: two concurrent requests can both pass.
Here SET NX + INCR + TTL run in one MULTI, so the Nth attempt is counted exactly once.
"""

import logging

import redis
from django.conf import settings

from pollsite.problems import Problem

logger = logging.getLogger(__name__)
_clients = {}


def _client():
    url = settings.REDIS_URL
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(url, **settings.REDIS_OPTIONS)
    return _clients[url]


def hit(scope, key, *, limit, window, fail_open):
    """Count one attempt at `scope:key`; raise 429 past `limit` attempts in `window` seconds.

    When Redis is unreachable: `fail_open` lets the attempt through (logged), otherwise it
    is refused with 503, because an unenforced limit would let attempts through unbounded.
    """
    name = f"ratelimit:{scope}:{key}"
    try:
        pipe = _client().pipeline(transaction=True)
        pipe.set(name, 0, ex=window, nx=True)
        pipe.incr(name)
        pipe.ttl(name)
        _, count, ttl = pipe.execute()
    except redis.RedisError as exc:
        logger.warning(
            "rate limiter store unreachable (%s) for scope %s", type(exc).__name__, scope
        )
        if fail_open:
            return
        raise Problem(
            "rate_limiter_unavailable",
            "Try again shortly.",
            status=503,
            headers={"Retry-After": "5"},
        ) from None
    if count > limit:
        raise Problem(
            "throttled",
            "Too many attempts; try again later.",
            status=429,
            headers={"Retry-After": str(max(ttl, 1))},
        )
