"""Liveness and readiness probes. Plain Django views: they must stay cheap and must not
depend on anything (auth, throttles, the cache) that they are meant to check."""

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse

from pollsite import redis_client
from pollsite.replicas import replica_health


def healthz(request):
    """The process is up."""
    return JsonResponse({"status": "ok"})


def readyz(request):
    """The database and the cache both answer; 503 names the part that does not."""
    checks = {"database": _check_database(), "cache": _check_cache()}
    failing = sorted(name for name, result in checks.items() if result != "ok")
    body = {"status": "fail" if failing else "ok", "checks": checks, "failing": failing}
    replica = replica_health()
    if replica is not None:
        # Informative: a replica behind or away sends its reads to the primary.
        body["replica"] = replica
    return JsonResponse(body, status=503 if failing else 200)


def _check_database():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:  # any failure means "not ready", whatever its class
        return f"error: {type(exc).__name__}"


def _check_cache():
    try:
        client = redis_client.connect(**settings.REDIS_OPTIONS)
        try:
            client.ping()
        finally:
            client.close()
        return "ok"
    except redis.RedisError as exc:
        return f"error: {type(exc).__name__}"
