"""Dedicated servers for fault-injection tests: a PostgreSQL, a Redis and an app server of
their own, which a test may stop or SIGKILL without touching the session's stack."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
from django.conf import settings

# open_poll(base, staff_token, title): a poll over the API, the same for tests and bench.
from bench.cluster import open_poll  # noqa: F401
from devstack.postgres import ensure_database, start_postgres
from devstack.processes import Child, free_port, stop_all
from devstack.redis import start_redis
from devstack.web import WebSizing, WebTier
from pollsite.defaults import BASE_DIR, embedded_database_url, embedded_redis_url


def _descendants(pid):
    """Every process below `pid`, from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def scratch_dir():
    """A folder the postgres user (when we are root) can reach, unlike pytest's tmp_path."""
    path = Path(tempfile.mkdtemp(prefix="pollsite-fault-"))
    path.chmod(0o755)
    return path


class Postgres:
    def __init__(self, directory):
        self.pgdata = directory / "pgdata"
        self.log = directory / "postgres.log"
        self.port = free_port()
        self.child = None

    @property
    def url(self):
        return embedded_database_url(self.port)

    def start(self, timeout=60):
        """Start (or restart, on the same data folder); retried while the processes of a
        killed server still hold its shared memory."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.child = start_postgres(self.pgdata, self.port, log=self.log)
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        ensure_database(self.port)
        return self

    def stop(self):
        self.child.stop()

    def kill(self):
        """SIGKILL the postmaster, as the OOM killer or a crash would."""
        os.kill(self.child.pid, signal.SIGKILL)
        self.child.popen.wait()

    def freeze(self):
        """SIGSTOP every server process, as a stalled host or a hung disk would: each
        keeps its memory and its sockets, answers nothing, and no timer of its own
        runs. thaw() lets them go on from where they were."""
        self._frozen = [self.child.pid, *_descendants(self.child.pid)]
        for pid in self._frozen:
            # A backend may end between the listing and its signal (its client left):
            # nothing left to freeze, and the postmaster, first, is stopped already.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)

    def thaw(self):
        for pid in reversed(getattr(self, "_frozen", [])):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self._frozen = []

    def connect(self):
        conn = psycopg2.connect(self.url)
        conn.autocommit = True
        return conn

    def migrate(self, env):
        manage(["migrate", "--no-input", "-v", "0"], env={**env, "DATABASE_URL": self.url})


class Redis:
    def __init__(self, directory):
        self.directory = directory / "redis"
        self.port = free_port()
        self.child = None

    @property
    def url(self):
        return embedded_redis_url(self.port)

    def start(self):
        log = self.directory.parent / "redis.log"
        self.child = start_redis(self.directory, self.port, log=log)
        return self

    def stop(self):
        self.child.stop()

    def kill(self):
        """SIGKILL; start() again brings it back on the same port, from whatever snapshot
        (dump.rdb) its folder holds."""
        os.kill(self.child.pid, signal.SIGKILL)
        self.child.popen.wait()

    def pause(self):
        """SIGSTOP: Redis keeps its data and its sockets, and answers nothing, as a
        stalled host or a partition would; writes sent meanwhile wait in its buffers."""
        os.kill(self.child.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.child.pid, signal.SIGCONT)


class AppServer:
    """The production web tier (WebTier: nginx in front of granian and uvicorn)
    with its own environment. With `log`, the output of all three, the request log
    included, is kept in that one file, for the tests that search it."""

    def __init__(self, env, *, log=None, workers=1):
        directory = Path(tempfile.mkdtemp(prefix="pollsite-web-"))
        self.log = log
        self.web = WebTier(
            port=free_port(),
            env={"LOG_LEVEL": "WARNING", **env} if log is None else env,
            sizing=WebSizing(api_workers=workers, api_threads=4, stream_workers=1),
            directory=directory,
            log_file=log,
        )
        self.url = self.web.url
        self.children = []
        try:
            for _, start in self.web.services():
                self.children.append(start())
        except Exception:
            self.stop()
            raise

    def stop(self):
        stop_all(self.children)
        self.children = []


@contextlib.contextmanager
def app_with_own_redis(directory, *, via=None, workers=2):
    """A Redis of its own, the web tier on it (through via(redis), a URL, if given: a
    partition's proxy, say) and the reconciler beside it (on the Redis itself): the
    stack the cache-fault tests break. Yields (redis, server); everything stops
    afterwards, a paused Redis included."""
    redis = Redis(directory).start()
    server = reconciler = None
    try:
        redis_url = via(redis) if via else redis.url
        server = AppServer(app_env(REDIS_URL=redis_url), log=directory / "app.log", workers=workers)
        reconciler = manage_child(
            "reconciler",
            ["reconcile_results"],
            env=app_env(REDIS_URL=redis.url),
            log=directory / "reconciler.log",
        )
        yield redis, server
    finally:
        for part in (reconciler, server):
            if part is not None:
                part.stop()
        redis.resume()
        redis.stop()


def manage_child(name, args, *, env, log):
    """A management command running beside the servers (the reconciler, say)."""
    return Child(name, [sys.executable, str(BASE_DIR / "manage.py"), *args], env=env, log=log)


def manage(args, *, env):
    subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), *args], check=True, env=env, cwd=BASE_DIR
    )


def remove(directory):
    shutil.rmtree(directory, ignore_errors=True)


def app_env(**extra):
    """The environment of an app server on the test run's database, cache and registry."""
    db = settings.DATABASES["default"]
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {**os.environ, "DATABASE_URL": url, **extra}


SEED = """
import json
from django.contrib.auth import get_user_model
from knox.models import AuthToken
from tests.support.voters import verified_tokens
staff = get_user_model().objects.create_user("sam", password="x", is_staff=True)
tokens = [AuthToken.objects.create(staff)[1], *verified_tokens(%d)]
print("TOKENS=" + json.dumps(tokens))
"""


def seed(env, voters):
    """In the database `env` points at: a staff user and `voters` verified voters (users
    voter0, voter1, ...); their tokens, the staff's first."""
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SEED % voters],
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("TOKENS="))
    return json.loads(line.removeprefix("TOKENS="))
