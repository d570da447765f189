"""1,000 concurrent clients, through PgBouncer's transaction pool: PostgreSQL's backends
stay at the pool size. Once as 1,000 database clients of PgBouncer itself, once as 1,000
HTTP clients of the front (whose API nodes are PgBouncer's clients)."""

import asyncio
import time

import psycopg
import pytest

from bench.cluster import BackendSampler, http_crowd
from tests.cluster.conftest import open_poll

pytestmark = [pytest.mark.cluster]
CLIENTS = 1000


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
    # PostgreSQL connections serving the 1,000: at most the pool, and used (PgBouncer's
    # own count: through HAProxy, pg_stat_activity cannot tell its connections apart; the
    # leader's backends in all are in the figure).
    assert 0 < max(sampler.pooled) <= cluster.pool_size, sampler.pooled


def test_a_thousand_http_clients_keep_the_backends_at_the_pool_size(cluster, people, figure):
    poll_id, _ = open_poll(cluster, people.staff, "A thousand clients")
    with BackendSampler(cluster) as sampler:
        statuses, _ = http_crowd(cluster.url, f"/api/v1/polls/{poll_id}/events", CLIENTS)
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
