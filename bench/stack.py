"""The throwaway stack a bench run measures: PostgreSQL, Redis and the app server.

Built from devstack/, the code `make run` uses, so the servers are started the
same way; only the data lives in a temporary folder on free ports (as tests/support/plugin.py
does) and PostgreSQL keeps its durable settings (fsync on), so commits cost what they
cost in production. Everything it starts is a Child: tied to this process with
PR_SET_PDEATHSIG, so nothing outlives the harness, even on SIGKILL.
"""

import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import psycopg2

from devstack.postgres import ensure_database, start_postgres
from devstack.processes import Child, free_port, port_in_use, stop_all, wait_until
from devstack.redis import start_redis
from devstack.web import WebSizing, WebTier
from pollsite.defaults import embedded_database_url, embedded_redis_url

BASE_DIR = Path(__file__).resolve().parent.parent
# Up to 1,000 SSE subscribers plus the load generators' sockets, in one process each.
OPEN_FILES = 65536


def raise_open_files_limit(limit=OPEN_FILES):
    """Raise RLIMIT_NOFILE for us and, by inheritance, for every child we start (the
    app servers included). Root with CAP_SYS_RESOURCE may raise the hard limit too; a
    container's root often lacks it, and then the soft limit goes up to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < limit:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
            return resource.getrlimit(resource.RLIMIT_NOFILE)
        except (ValueError, PermissionError):
            pass  # not allowed: stay under the hard limit
    target = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, target), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


class Stack:
    """PostgreSQL + Redis + migrations + app servers, in a temporary folder."""

    def __init__(self, say):
        self.say = say
        self.tmp = Path(tempfile.mkdtemp(prefix="pollsite-bench-"))
        self.tmp.chmod(0o755)  # the postgres user (when we are root) must reach PGDATA
        self.children = []
        self.env = {}
        self.pg_port = self.redis_port = None
        self._conn = None

    # -- start ---------------------------------------------------------------------------

    def start(self):
        self.pg_port = free_port()
        self.children.append(
            start_postgres(
                self.tmp / "pgdata", self.pg_port, log=self.tmp / "postgres.log", durable=True
            )
        )
        ensure_database(self.pg_port)
        self.redis_port = free_port()
        self.children.append(
            start_redis(self.tmp / "redis", self.redis_port, log=self.tmp / "redis.log")
        )
        self.env = self._app_env()
        os.environ.update(self.env)  # the harness itself uses Django (bench/fixtures.py)
        subprocess.run(
            [sys.executable, str(BASE_DIR / "manage.py"), "migrate", "--noinput", "-v", "0"],
            check=True,
            env={**self.env, "LOG_LEVEL": "WARNING"},  # no line per created view
        )

    def _app_env(self):
        env = dict(os.environ)
        env.update(
            DATABASE_URL=embedded_database_url(self.pg_port),
            REDIS_URL=embedded_redis_url(self.redis_port),
            VAR_DIR=str(self.tmp / "var"),
            DJANGO_ENV="development",
            DJANGO_SETTINGS_MODULE="pollsite.settings",
            BENCH_ENDPOINTS="1",
            # Never called (voters are created verified), but settings want a value.
            REGISTRY_URL="http://127.0.0.1:9",
        )
        return env

    def start_web(self, name, *, env=None, request_log=None):
        """The web tier exactly as `make run` starts it (WebTier: nginx in front of
        granian and uvicorn), plus the background commands; returns (tier, its children)."""
        env = {**self.env, **(env or {})}
        web = WebTier(
            port=free_port(),
            env=env,
            sizing=WebSizing.from_env(env),
            directory=self.tmp / name,
            log_dir=self.tmp,
            request_log=request_log,
        )
        children = []
        for service, start in web.services():
            child = start()
            child.name = f"{name}-{service}"
            children.append(child)
        self.children.extend(children)
        return web, children

    def start_background(self, *, refresher=True):
        """The background commands `make run` starts beside the web tier (devstack/run.py),
        so that their bursts weigh on the figures as they would in production."""
        commands = [("reconciler", "reconcile_results")]
        if refresher:
            commands.append(("refresher", "refresh_results", "--every", "5"))
        for name, *command in commands:
            args = [sys.executable, str(BASE_DIR / "manage.py"), *command]
            self.children.append(Child(name, args, env=self.env, log=self.tmp / f"{name}.log"))

    def start_server(self, name, args_for_port, *, env=None, ready_path="/readyz"):
        """A candidate app server on a free port: args_for_port(port) is its command. It
        is up when ready_path answers 200 (or, with None, when the port takes connections)."""
        port = free_port()
        child = Child(
            name, args_for_port(port), env={**self.env, **(env or {})}, log=self.tmp / f"{name}.log"
        )
        self.children.append(child)
        base = f"http://127.0.0.1:{port}"
        if ready_path is None:
            wait_until(lambda: port_in_use(port), child, name, timeout=60)
        else:
            wait_until(lambda: _ready(base + ready_path), child, name, timeout=60)
        return child, base

    def run(self, args, *, env):
        """A command that must succeed, its output in the stack's log folder."""
        log = self.tmp / "commands.log"
        with open(log, "ab") as out:
            subprocess.run(args, env=env, check=True, stdout=out, stderr=subprocess.STDOUT)

    def stop_child(self, child):
        child.stop()
        if child in self.children:
            self.children.remove(child)

    # -- database ------------------------------------------------------------------------

    @property
    def dsn(self):
        return self.env["DATABASE_URL"]

    def new_connection(self):
        return psycopg2.connect(self.dsn)

    def sql(self, query, params=None):
        """Run one statement on an autocommit connection; return its rows (or [])."""
        if self._conn is None or self._conn.closed:
            self._conn = psycopg2.connect(self.dsn)
            self._conn.autocommit = True
        with self._conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []

    def scalar(self, query, params=None):
        return self.sql(query, params)[0][0]

    # -- stop ----------------------------------------------------------------------------

    def stop(self, *, keep=False):
        if self._conn is not None:
            self._conn.close()
        stop_all(self.children)
        self.children.clear()
        if keep:
            self.say(f"kept {self.tmp} (logs, data)")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def log_tail(self, name, lines=30):
        path = self.tmp / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _ready(url):
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
