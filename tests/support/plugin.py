"""Throwaway PostgreSQL and Redis for the test run, started before Django reads settings.

Loaded with `-p tests.support.plugin` (pyproject.toml). pytest-django reads settings in its own
pytest_load_initial_conftests hook; a wrapper hook runs around it, so the servers are up
and DATABASE_URL / REDIS_URL point at them by then. The data lives in a temporary folder
outside the project, so `make run`'s var/ is never touched, and both can run at once.
Under pytest-xdist each worker process starts its own (the hook runs in each), and the
controller, which runs no test, none.
"""

import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest

from devstack.postgres import start_postgres
from devstack.processes import free_port, stop_all
from devstack.redis import start_redis
from devstack.registry import start_registry_simulator
from pollsite.defaults import embedded_database_url, embedded_redis_url, embedded_registry_url
from tests.support import citizens

_stack = {"children": [], "tmp": None}


def _start_stack():
    tmp = Path(tempfile.mkdtemp(prefix="pollsite-test-"))
    tmp.chmod(0o755)  # the postgres user (when we are root) must reach its PGDATA
    _stack["tmp"] = tmp
    children = _stack["children"]
    if not os.environ.get("TEST_DATABASE_URL"):
        port = free_port()
        children.append(
            start_postgres(tmp / "pgdata", port, log=tmp / "postgres.log", durable=False)
        )
        os.environ["DATABASE_URL"] = embedded_database_url(port)
    else:
        os.environ["DATABASE_URL"] = os.environ["TEST_DATABASE_URL"]
    if not os.environ.get("TEST_REDIS_URL"):
        port = free_port()
        children.append(_start_redis(tmp, port))
        os.environ["REDIS_URL"] = embedded_redis_url(port)
    else:
        os.environ["REDIS_URL"] = os.environ["TEST_REDIS_URL"]
    os.environ["VAR_DIR"] = str(tmp / "var")
    os.environ["DJANGO_ENV"] = "development"
    # pytest-django's live_server serves each request on a new thread: a kept connection
    # would outlive its thread and block dropping the test database. The web_server
    # fixture runs the real servers with persistent connections.
    os.environ.setdefault("DB_CONN_MAX_AGE", "0")
    os.environ["NATIONAL_ID_SCHEME"] = citizens.SCHEME
    os.environ["REGISTRY_CLIENT_SECRET"] = secrets.token_urlsafe(32)
    os.environ["NATIONAL_ID_HMAC_KEY"] = secrets.token_urlsafe(32)
    _start_registry(tmp)


def _start_registry(tmp):
    data = tmp / "citizens.csv"
    citizens.write_csv(data)
    os.environ["REGISTRY_SIM_DATA"] = str(data)
    port = free_port()
    _stack["children"].append(
        start_registry_simulator(port, env=dict(os.environ), log=tmp / "registry.log")
    )
    os.environ["REGISTRY_URL"] = embedded_registry_url(port)


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config, parser, args):
    if not early_config.getoption("help", False) and not _hands_tests_to_workers(early_config):
        _start_stack()
    return (yield)


def _hands_tests_to_workers(early_config):
    """pytest-xdist's controller (-n) runs no test: each worker starts a stack of its own."""
    workers = getattr(early_config.known_args_namespace, "numprocesses", None)
    return bool(workers) and "PYTEST_XDIST_WORKER" not in os.environ


def pytest_unconfigure(config):
    stop_all(_stack["children"])
    if _stack["tmp"]:
        shutil.rmtree(_stack["tmp"], ignore_errors=True)


def _start_redis(tmp, port):
    return start_redis(tmp / "redis", port, log=tmp / "redis.log")


class redis_stopped:  # noqa: N801 - used as a context manager, like a function
    """Stop the test Redis for the duration of a `with` block, then start it again, empty
    (as a real Redis without persistence comes back after a restart)."""

    def __enter__(self):
        self.child = stack_child("redis")
        self.port = int(os.environ["REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
        self.child.stop()

    def __exit__(self, *exc):
        children = _stack["children"]
        children[children.index(self.child)] = _start_redis(_stack["tmp"], self.port)


def stack_child(name):
    """The running test server called `name` ("postgres", "redis", "registry")."""
    return next(child for child in _stack["children"] if child.name == name)
