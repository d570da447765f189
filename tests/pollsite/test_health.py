import os
import subprocess
import sys
import time

import httpx
import pytest

from devstack.processes import free_port
from pollsite.defaults import embedded_database_url, embedded_redis_url


def test_it_answers_healthz(client):
    assert client.get("/healthz").status_code == 200


@pytest.mark.django_db
def test_it_is_ready_when_database_and_cache_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "cache": "ok"}


@pytest.mark.django_db
def test_it_names_the_cache_when_redis_is_down(client, settings):
    settings.REDIS_URL = embedded_redis_url(free_port())
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["cache"]


def test_it_names_the_database_when_postgres_is_down():
    """A real app server whose DATABASE_URL points at a port where nothing listens."""
    port = free_port()
    env = dict(os.environ, DATABASE_URL=embedded_database_url(free_port()))
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "pollsite.asgi:application",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        response = _get_when_up(f"http://127.0.0.1:{port}/readyz")
        assert response.status_code == 503
        assert response.json()["failing"] == ["database"]
    finally:
        server.terminate()
        server.wait(10)


def _get_when_up(url, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
