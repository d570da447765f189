"""PostgreSQL restarted (cleanly, then after a SIGKILL) while the app servers keep their
connections: every kept connection is dead after it, and no request may fail on one.
The health check (pollsite/db_backend) must notice each before the request's first query
and connect afresh."""

import os
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support import stack

pytestmark = pytest.mark.reliability
WORKERS = 2


def burst(base, staff, *, n=48):
    """n requests, 16 at a time, of three kinds that each touch the database."""
    paths = ["/api/v1/polls", "/api/v1/auth/me", "/api/v1/polls?status=open"]

    def one(i):
        return httpx.get(
            base + paths[i % 3], headers={"Authorization": f"Bearer {staff}"}, timeout=30
        ).status_code

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(one, range(n)))


@pytest.mark.parametrize("how", ["restart", "sigkill"])
def test_a_restarted_database_costs_no_failed_request(scratch, figure, how):
    postgres = stack.Postgres(scratch).start()
    env = {**os.environ, "DATABASE_URL": postgres.url, "DB_CONN_MAX_AGE": "300"}
    postgres.migrate(env)
    staff, *_ = stack.seed(env, 0)
    server = stack.AppServer(env, log=scratch / "app.log", workers=WORKERS)
    try:
        warm = burst(server.url, staff)  # every thread now holds a connection
        backends_before = _backends(postgres)
        if how == "restart":
            postgres.stop()
        else:
            postgres.kill()
        postgres.start()
        after = burst(server.url, staff)
    finally:
        server.stop()
        postgres.stop()
    figure(
        f"postgres_{how}_kept_connections",
        kept_connections=backends_before,
        requests_after=len(after),
        failed_after=sum(1 for s in after if s != 200),
    )
    assert set(warm) == {200}
    assert backends_before >= WORKERS  # connections really were kept (each would fail)
    assert set(after) == {200}, after


def _backends(postgres):
    with postgres.connect() as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
            " AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]
