"""1,000 concurrent clients, through PgBouncer's transaction pool: PostgreSQL's backends
stay at the pool size. Once as 1,000 database clients of PgBouncer itself, once as 1,000
HTTP clients of the front (whose API nodes are PgBouncer's clients)."""

import asyncio
import threading
import time

import psycopg
import pytest

from devstack.pgbouncer import server_ports
from tests.cluster.conftest import open_poll

pytestmark = [pytest.mark.reliability]
CLIENTS = 1000


class BackendSampler:
    """Every 50 ms, in a thread of its own: the primary's client backends, and of them
    those that are PgBouncer's server connections (matched by port: SHOW SERVERS)."""

    def __init__(self, cluster):
        self.cluster, self.samples, self.pooled = cluster, [], []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def sample(self):
        ports = server_ports(self.cluster.ports.pgbouncer, "polls")
        [(backends, pooled)] = self.cluster.sql(
            "SELECT count(*) - 1, count(*) FILTER (WHERE client_port = ANY(%s))"
            " FROM pg_stat_activity WHERE backend_type = 'client backend'",
            [ports or [0]],
        )
        return backends, pooled

    def _run(self):
        while not self._stop.is_set():
            backends, pooled = self.sample()
            self.samples.append(backends)
            self.pooled.append(pooled)
            time.sleep(0.05)

    def __enter__(self):
        self.at_rest = self.sample()[0]
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def test_a_thousand_database_clients_share_the_pool(cluster, figure):
    dsn = f"host=127.0.0.1 port={cluster.ports.pgbouncer} user=postgres dbname=polls"

    async def client(ready, go):
        # prepare_threshold=None: no prepared statements, as a transaction pool needs.
        async with await psycopg.AsyncConnection.connect(
            dsn, autocommit=True, prepare_threshold=None
        ) as conn:
            ready.release()
            await go.wait()
            for _ in range(3):
                await conn.execute("SELECT pg_sleep(0.01)")

    async def crowd():
        ready, go = asyncio.Semaphore(0), asyncio.Event()
        tasks = [asyncio.ensure_future(client(ready, go)) for _ in range(CLIENTS)]
        for _ in range(CLIENTS):
            await ready.acquire()
        go.set()
        await asyncio.gather(*tasks)

    with BackendSampler(cluster) as sampler:
        started = time.monotonic()
        asyncio.run(crowd())
        took = time.monotonic() - started
    figure(
        "cluster_pool_1000_db_clients",
        clients=CLIENTS,
        pool_size=cluster.pool_size,
        backends_at_rest=sampler.at_rest,
        backends_max=max(sampler.samples),
        pooled_max=max(sampler.pooled),
        seconds=round(took, 1),
    )
    # PostgreSQL backends serving the 1,000: at most the pool, and used (the test sees
    # PgBouncer's connections in pg_stat_activity, so it could see too many).
    assert 0 < max(sampler.pooled) <= cluster.pool_size, sampler.pooled


def test_a_thousand_http_clients_keep_the_backends_at_the_pool_size(cluster, people, figure):
    poll_id, _ = open_poll(cluster, people.staff, "A thousand clients")
    host, port = cluster.url.removeprefix("http://").split(":")
    path = f"/api/v1/polls/{poll_id}/events"  # a database read each
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()

    async def one(go):
        # A bare keep-alive connection per client (a full HTTP client each would cost
        # this test more than the servers): two requests, one after the other.
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            await go.wait()
            statuses = []
            for _ in range(2):
                writer.write(request)
                status = int((await reader.readline()).split()[1])
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
                statuses.append(status)
            return statuses
        finally:
            writer.close()

    async def crowd():
        go = asyncio.Event()
        tasks = [asyncio.ensure_future(one(go)) for _ in range(CLIENTS)]
        await asyncio.sleep(1)  # all connected, then all at once
        go.set()
        return await asyncio.gather(*tasks)

    with BackendSampler(cluster) as sampler:
        statuses = [s for pair in asyncio.run(crowd()) for s in pair]
    figure(
        "cluster_pool_1000_http_clients",
        clients=CLIENTS,
        requests=len(statuses),
        ok=statuses.count(200),
        pool_size=cluster.pool_size,
        backends_at_rest=sampler.at_rest,
        backends_max=max(sampler.samples),
        pooled_max=max(sampler.pooled),
    )
    assert statuses.count(200) == len(statuses), set(statuses)
    assert 0 < max(sampler.pooled) <= cluster.pool_size, sampler.pooled
