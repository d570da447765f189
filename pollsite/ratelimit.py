"""Fixed-window attempt counters in Redis, atomic under concurrency.

DRF's throttles read, then write, the cache: two concurrent requests can both pass.
Here SET NX + INCR + TTL run in one MULTI, so the Nth attempt is counted exactly once.
"""

import logging
from collections.abc import Callable

import redis
from django.conf import settings

from pollsite import redis_client
from pollsite.problems import Problem

logger = logging.getLogger(__name__)
_clients: dict[str, redis.Redis] = {}


class TooManyAttempts(Problem):
    status_code = 429
    default_code = "throttled"
    default_detail = "Too many attempts; try again later."


class RateLimiterUnavailable(Problem):
    status_code = 503
    default_code = "rate_limiter_unavailable"
    default_detail = "Try again shortly."


def _client() -> redis.Redis:
    # Keyed by where Redis is, so a test that points the settings elsewhere gets its own.
    where = f"{settings.REDIS_URL} {settings.REDIS_SENTINELS}"
    if where not in _clients:
        _clients[where] = redis_client.connect(**settings.REDIS_OPTIONS)
    return _clients[where]


# DECR only a live counter: a key that expired meanwhile must not come back as -1 with no
# TTL (which would grant extra attempts forever). A script runs atomically in Redis.
_REFUND = """
if redis.call('EXISTS', KEYS[1]) == 1 and tonumber(redis.call('GET', KEYS[1])) > 0 then
    return redis.call('DECR', KEYS[1])
end
return 0
"""


def _name(scope: str, key: str | int) -> str:
    return f"ratelimit:{scope}:{key}"


def hit(scope: str, key: str | int, *, limit: int, window: int, fail_open: bool) -> None:
    """Count one attempt at `scope:key`; raise 429 past `limit` attempts in `window` seconds.

    When Redis is unreachable: `fail_open` lets the attempt through (logged), otherwise it
    is refused with 503, because an unenforced limit would let attempts through unbounded.
    """
    name = _name(scope, key)
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
        raise RateLimiterUnavailable(headers={"Retry-After": "5"}) from None
    if count > limit:
        raise TooManyAttempts(headers={"Retry-After": str(max(ttl, 1))})


def refund(scope: str, key: str | int) -> None:
    """Take back one attempt counted by `hit` (it turned out not to count)."""
    _forgiving(scope, lambda client: client.eval(_REFUND, 1, _name(scope, key)))


def reset(scope: str, key: str | int) -> None:
    """Forget every attempt at `scope:key`."""
    _forgiving(scope, lambda client: client.delete(_name(scope, key)))


def _forgiving(scope: str, command: Callable[[redis.Redis], object]) -> None:
    # Taking attempts back is best effort: an unreachable store keeps the count it had,
    # which can only err on the side of refusing.
    try:
        command(_client())
    except redis.RedisError as exc:
        logger.warning(
            "rate limiter store unreachable (%s) for scope %s", type(exc).__name__, scope
        )
