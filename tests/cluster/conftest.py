"""`make cluster` as a fixture: every piece a real process (three etcd members, three
PostgreSQL nodes under Patroni, HAProxy, PgBouncer, two Redis and three sentinels, two API
and two stream nodes, workers, nginx) under the same Supervisor, restarting what dies, as
`make cluster` does (devstack/cluster.py).

Where PgBouncer, etcd, HAProxy or the system Python's venv is missing (Debian's packages:
.ci/run installs them), these tests skip with a message, as the browser tests do without
chromium. Each test module is marked `cluster` (a conftest's pytestmark would mark
nothing): `make cluster-test` runs them, `make test` does not."""

import contextlib
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil
import psycopg2
import pytest

from devstack import patroni
from devstack.cluster import Cluster
from devstack.pgbouncer import INSTALL_HINT, pgbouncer_binary
from devstack.processes import free_port
from tests.reliability.conftest import figure  # noqa: F401 - the RELIABILITY lines
from tests.support import stack


@contextlib.contextmanager
def suspended(processes):
    """SIGSTOP each of `processes` for the block, SIGCONT after. One that ended since it
    was listed (a PostgreSQL backend whose client left) is passed over: it has nothing
    left to answer. Every process stopped is continued whatever happens, so a failure
    never leaves a node hung for the tests after it (one did: a backend that ended
    between the listing and its SIGSTOP raised, with the postmaster already stopped,
    and the seven cluster tests after it found a cluster that never formed)."""
    stopped = []
    try:
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.suspend()
                stopped.append(process)
        yield stopped
    finally:
        for process in stopped:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.resume()


class RunningCluster:
    def __init__(self, cluster):
        self.cluster = cluster
        self.url = cluster.web.url
        self.ports = cluster.ports
        self.env = cluster.env
        self.pool_size = cluster.pool_size
        self._stop, self._paused = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._supervise, daemon=True)
        self._thread.start()

    def _supervise(self):
        while not self._stop.is_set():
            if not self._paused.is_set():
                with contextlib.suppress(Exception):
                    self.cluster.supervisor.tick()
            time.sleep(0.1)

    @contextlib.contextmanager
    def unsupervised(self):
        """Nothing is restarted inside this block (a piece stays down while the test
        looks); afterwards the supervisor restarts what died."""
        self._paused.set()
        try:
            yield
        finally:
            self._paused.clear()

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        self.cluster.stop()

    def child(self, name):
        return self.cluster.child(name)

    def kill(self, name):
        """SIGKILL a service (and what is left of its process group); the supervisor
        starts it again, as under `make cluster`."""
        child = self.child(name)
        child.popen.kill()
        child.kill_leftovers()
        child.popen.wait()

    @contextlib.contextmanager
    def paused(self, name):
        """SIGSTOP a service and its children for the block (it keeps its sockets and its
        state, and answers nothing), SIGCONT after."""
        root = psutil.Process(self.child(name).pid)
        with suspended([root, *root.children(recursive=True)]):
            yield

    # -- the PostgreSQL nodes (Patroni) --

    @property
    def nodes(self):
        return self.cluster.nodes

    def roles(self):
        """node -> role ("leader", "sync_standby", "replica") for the running members."""
        return patroni.roles(self.nodes)

    def leader(self):
        return self.cluster.leader()

    def role_of(self, role):
        return next((name for name, r in self.roles().items() if r == role), None)

    def replica_node(self):
        """The node HAProxy's replica port leads to: the first replica in node order
        (the others are its backups)."""
        seen = self.roles()
        return next(n.name for n in self.nodes if seen.get(n.name) in ("sync_standby", "replica"))

    def kill_node(self, name):
        """SIGKILL of the node's Patroni and every PostgreSQL process of it, as a host
        that dies (the postmaster lives in a session of its own: killed by pid)."""
        processes = self.cluster.node_processes(name)
        assert processes, f"{name} runs nothing"
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        child = self.child(name)
        child.popen.wait()
        psutil.wait_procs(processes, timeout=10)

    @contextlib.contextmanager
    def frozen_node(self, name):
        """SIGSTOP of the node's Patroni and PostgreSQL for the block (a hung host: its
        sockets stay open and answer nothing), SIGCONT after."""
        with suspended(self.cluster.node_processes(name)) as processes:
            yield processes

    def wait_members(self, count=None, timeout=120):
        """Until every node runs again, one the leader and one its synchronous standby."""
        count = count or len(self.nodes)
        return patroni.wait_for_roles(self.nodes[:count], standbys=count - 1, timeout=timeout)

    def patroni_state(self, name):
        """The node's own view (GET /patroni): role, state, failsafe_mode_is_active, ..."""
        node = next(n for n in self.nodes if n.name == name)
        return patroni.http_json(f"{node.api_url}/patroni", timeout=3) or {}

    def caught_up(self, name, within=15):
        """Whether the node replays the leader's WAL up to where it was when asked."""
        [(position,)] = self.sql("SELECT pg_current_wal_lsn()::text")
        port = next(n.pg_port for n in self.nodes if n.name == name)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            [(behind,)] = self.sql(
                "SELECT pg_wal_lsn_diff(%s, pg_last_wal_replay_lsn())", [position], port=port
            )
            if behind is not None and behind <= 0:
                return True
            time.sleep(0.2)
        return False

    @contextlib.contextmanager
    def maintenance(self):
        """Patroni's maintenance mode for the block (`patronictl pause`): Patroni leaves
        PostgreSQL alone, so a replay paused by hand stays paused (otherwise it resumes
        it at its next loop, as it must after a parameter change on PostgreSQL 14+)."""
        self.patronictl("pause", "--wait")
        try:
            yield
        finally:
            self.patronictl("resume", "--wait")

    def patronictl(self, *args):
        name = self.nodes[0].name
        return patroni.patronictl(
            self.cluster.patroni_bin, self.cluster.patroni_config(name), *args
        )

    def wait_restarted(self, name, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            child = self.child(name)
            if child is not None and child.alive():
                return child
            time.sleep(0.1)
        raise AssertionError(f"{name} was not restarted within {timeout} s")

    def sql(self, query, params=(), *, port=None):
        conn = psycopg2.connect(
            host="127.0.0.1", port=port or self.ports.primary, user="postgres", dbname="polls"
        )
        conn.autocommit = True
        try:
            with conn.cursor() as cursor:
                cursor.execute(query, params or None)
                return cursor.fetchall() if cursor.description else None
        finally:
            conn.close()

    def replica_sql(self, query, params=()):
        """On the replica HAProxy's replica port leads to now."""
        return self.sql(query, params, port=self.ports.replica)

    def wait_replica_serving(self, timeout=30):
        """Until every API process says the replica serves reads (its monitor)."""
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            body = httpx.get(f"{self.url}/readyz", timeout=5).json()
            seen = seen + 1 if body.get("replica", {}).get("serving_reads") else 0
            if seen >= 8:
                return
            time.sleep(0.05)
        raise AssertionError(f"the replica does not serve reads: {body}")


# Package-scoped: up for the tests here only, so that its 19 processes do not weigh on
# the rest of the run.
@pytest.fixture(scope="package")
def cluster(tmp_path_factory):
    if pgbouncer_binary() is None:
        pytest.skip(f"PgBouncer is not installed ({INSTALL_HINT}); the cluster tests need it")
    missing = patroni.missing_pieces()
    if missing:
        pytest.skip(f"{', '.join(missing)} missing ({patroni.INSTALL_HINT}); the cluster needs it")
    # Not under pytest's temporary root: each pytest session that starts on this machine
    # (another worktree's) sets that root back to 0700, and Patroni, running as
    # PostgreSQL's user, would find its data folder gone and stop its PostgreSQL.
    directory = Path(tempfile.mkdtemp(prefix="polls-cluster-"))
    log_dir = tmp_path_factory.mktemp("cluster-log")
    env = stack.app_env(LOG_LEVEL="WARNING", RESULTS_STREAM_HEARTBEAT="1")
    # Not the test run's database: the cluster has its own primary.
    for name in ("DATABASE_URL", "REDIS_URL", "REGISTRY_URL", "DATABASE_REPLICA_URL"):
        env.pop(name, None)
    cluster = Cluster(directory, port=free_port(), env=env, durable=False, log_dir=log_dir)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)
        raise
    running = RunningCluster(cluster)
    yield running
    running.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="package")
def tokens(cluster):
    """A staff token, then 1,500 verified voters' tokens, in the cluster's database."""
    try:
        return stack.seed(cluster.env, 1500)
    except subprocess.CalledProcessError as exc:
        raise AssertionError(f"seeding failed: {exc.stderr[-3000:]}") from None


class Tokens:
    """Hands out each voter token once across the session's tests."""

    def __init__(self, tokens):
        self.staff, self._voters = tokens[0], list(tokens[1:])
        self._lock = threading.Lock()

    def take(self, count):
        with self._lock:
            taken, self._voters = self._voters[:count], self._voters[count:]
        assert len(taken) == count, "the session's voters ran out"
        return taken


@pytest.fixture(scope="package")
def people(tokens):
    return Tokens(tokens)


def open_poll(cluster, staff, title):
    poll = stack.open_poll(cluster.url, staff, title)
    return poll["id"], {o["label"]: o["id"] for o in poll["options"]}
