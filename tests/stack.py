"""Dedicated servers for fault-injection tests: a PostgreSQL, a Redis and an app server of
their own, which a test may stop or SIGKILL without touching the session's stack."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg2

from pollsite import devstack

BASE_DIR = Path(__file__).resolve().parent.parent


def scratch_dir():
    """A folder the postgres user (when we are root) can reach, unlike pytest's tmp_path."""
    path = Path(tempfile.mkdtemp(prefix="pollsite-fault-"))
    path.chmod(0o755)
    return path


class Postgres:
    def __init__(self, directory):
        self.pgdata = directory / "pgdata"
        self.log = directory / "postgres.log"
        self.port = devstack.free_port()
        self.child = None

    @property
    def url(self):
        return devstack.embedded_database_url(self.port)

    def start(self, timeout=60):
        """Start (or restart, on the same data folder); retried while the processes of a
        killed server still hold its shared memory."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.child = devstack.start_postgres(self.pgdata, self.port, log=self.log)
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        devstack.ensure_database(self.port)
        return self

    def stop(self):
        self.child.stop()

    def kill(self):
        """SIGKILL the postmaster, as the OOM killer or a crash would."""
        os.kill(self.child.pid, signal.SIGKILL)
        self.child.popen.wait()

    def connect(self):
        conn = psycopg2.connect(self.url)
        conn.autocommit = True
        return conn

    def migrate(self, env):
        manage(["migrate", "--no-input", "-v", "0"], env={**env, "DATABASE_URL": self.url})


class Redis:
    def __init__(self, directory):
        self.directory = directory / "redis"
        self.port = devstack.free_port()
        self.child = None

    @property
    def url(self):
        return devstack.embedded_redis_url(self.port)

    def start(self):
        log = self.directory.parent / "redis.log"
        self.child = devstack.start_redis(self.directory, self.port, log=log)
        return self

    def stop(self):
        self.child.stop()


class AppServer:
    """The production app server (uvicorn, ASGI) with its own environment. With `log`,
    its output is kept there, for the tests that search it."""

    def __init__(self, env, *, log=None, workers=1):
        self.port = devstack.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        args = [sys.executable, "-m", "uvicorn", "pollsite.asgi:application"]
        args += ["--port", str(self.port), "--workers", str(workers), "--no-access-log"]
        if log is None:
            args += ["--log-level", "warning"]
        with open(log or os.devnull, "ab") as out:
            self.process = subprocess.Popen(
                args, env=env, cwd=BASE_DIR, stdout=out if log else None, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 30
        while not self._healthy():
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"the app server did not start (log: {log})")
            time.sleep(0.1)

    def _healthy(self):
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def manage(args, *, env):
    subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), *args], check=True, env=env, cwd=BASE_DIR
    )


def remove(directory):
    shutil.rmtree(directory, ignore_errors=True)
