"""`make run`: start PostgreSQL, Redis, the registry simulator, the background commands
and the web tier under one Supervisor; Ctrl-C stops everything.

A flock on var/ (released by the kernel on any death) keeps two runs apart.
"""

import fcntl
import os
import signal
import subprocess
import sys
import time
from functools import partial

from devstack import BASE_DIR, VAR_DIR
from devstack.postgres import ensure_database, start_postgres
from devstack.processes import Child, say
from devstack.redis import start_redis
from devstack.registry import start_registry_simulator
from devstack.supervisor import Supervisor
from devstack.web import WebSizing, WebTier, links_banner
from pollsite import defaults


def lock_var_dir():
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    lock = open(VAR_DIR / "devstack.lock", "w")  # noqa: SIM115 - held for the whole run
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit(f"Another `make run` or `make cluster` is using {VAR_DIR}; stop it first.")
    return lock


def _manage(*args, env):
    subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *args], check=True, env=env)


def _manage_child(name, *args, env):
    return partial(Child, name, [sys.executable, str(BASE_DIR / "manage.py"), *args], env=env)


def run():
    started = time.monotonic()
    lock = lock_var_dir()  # noqa: F841 - held until we exit
    logs = VAR_DIR / "log"
    logs.mkdir(exist_ok=True)
    env = dict(os.environ)
    supervisor = Supervisor()

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    # Set both explicitly: a job started in the background by a script inherits SIGINT
    # as ignored, and Python then keeps it ignored.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        if not env.get("DATABASE_URL"):
            port = defaults.embedded_pg_port()
            pg = partial(start_postgres, VAR_DIR / "pgdata", port, log=logs / "postgres.log")
            supervisor.add("postgres", pg)
            ensure_database(port)
            env["DATABASE_URL"] = defaults.embedded_database_url(port)
            say(f"PostgreSQL 18 on {env['DATABASE_URL']} (data in var/pgdata)")
        if not env.get("REDIS_URL"):
            port = defaults.embedded_redis_port()
            supervisor.add(
                "redis", partial(start_redis, VAR_DIR / "redis", port, log=logs / "redis.log")
            )
            env["REDIS_URL"] = defaults.embedded_redis_url(port)
            say(f"Redis on {env['REDIS_URL']} (data in var/redis)")
        if not env.get("REGISTRY_URL"):
            port = defaults.embedded_registry_port()
            supervisor.add("registry", partial(start_registry_simulator, port, env=dict(env)))
            env["REGISTRY_URL"] = defaults.embedded_registry_url(port)

        _manage("migrate", "--noinput", "-v", "0", env=env)
        _manage("ensure_admin", env=env)
        # The job engine's worker: the snapshots' refreshes, the housekeeping and the
        # retry of jobs a dead worker left (polls/tasks.py, identity/tasks.py).
        supervisor.add("worker", _manage_child("worker", "procrastinate", "worker", env=env))
        supervisor.add("reconciler", _manage_child("reconciler", "reconcile_results", env=env))

        web = WebTier(
            port=int(env.get("PORT", "8000")),
            env=env,
            sizing=WebSizing.from_env(env),
            directory=VAR_DIR / "nginx",
        )
        for name, start in web.services():
            supervisor.add(name, start)
        say(f"ready in {time.monotonic() - started:.1f}s")
        print(f"\n{links_banner(web.url)}\n  Ctrl-C stops everything.\n", flush=True)
        while True:
            supervisor.tick()
            time.sleep(0.25)
    except KeyboardInterrupt:
        say("stopping")
        return 0
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        say(f"could not start: {exc}")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not orphan
        supervisor.stop_all()
        say("all stopped")
