"""The same figures on `make run`'s topology and on `make cluster`'s, in one run, and the
PostgreSQL backends under 1,000 clients (docs/scaling.md, "Measured").

    .venv/bin/python -m bench.cluster        # about 4 minutes; writes bench/CLUSTER.md

One side at a time (2 cores: both at once would measure each other): the single stack
(one PostgreSQL, one Redis, make run's web tier), then the cluster (devstack/cluster.py).
On each: HTTP votes (3 rounds) and results under paced voting (3 rounds), with the
load generator and data files of `make bench` (wrk, bench/lua/load.lua), then an audit
of counted == ballots. On the cluster, 1,000 concurrent HTTP clients, with the primary's
client backends and PgBouncer's server connections sampled meanwhile.
"""

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg2

from bench import http_load
from bench.fixtures import write_wrk_data
from bench.stack import raise_open_files_limit
from bench.stats import merged_percentile
from devstack.cluster import Cluster
from devstack.patroni import set_dynamic
from devstack.pgbouncer import server_connections
from devstack.postgres import ensure_database, start_postgres
from devstack.processes import Child, free_port, stop_all
from devstack.redis import start_redis
from devstack.web import WebSizing, WebTier
from pollsite.defaults import embedded_database_url, embedded_redis_url

OUT = Path(__file__).resolve().parent / "CLUSTER.md"
ROUNDS, WINDOW, THREADS, CONNECTIONS = 3, 6, 2, 16
VOTERS_PER_ROUND = 2500


def say(message):
    print(f"[bench.cluster] {message}", flush=True)


def say_load(load):
    say(
        f"{load.label}: {load.rate:.0f}/s p99 {load.p99_ms:.1f} ms max {load.max_ms:.0f} ms "
        f"errors {load.errors} {load.error_kinds or ''}".rstrip()
    )


def what_went_wrong(loads):
    """The errors of these runs by kind (http_load.Load.error_kinds), summed."""
    return dict(sum((Counter(load.error_kinds) for load in loads), Counter()))


@dataclass
class Poll:
    id: int
    options: list


class Single:
    """make run's topology on a throwaway folder: PostgreSQL, Redis, the web tier, a
    worker and a reconciler."""

    def __init__(self, tmp):
        self.tmp, self.children = tmp, []

    def start(self):
        pg, redis_port = free_port(), free_port()
        self.children.append(
            start_postgres(self.tmp / "pg", pg, log=self.tmp / "pg.log", durable=True)
        )
        ensure_database(pg)
        self.children.append(
            start_redis(self.tmp / "redis", redis_port, log=self.tmp / "redis.log")
        )
        self.env = {
            **os.environ,
            "DATABASE_URL": embedded_database_url(pg),
            "REDIS_URL": embedded_redis_url(redis_port),
            "REGISTRY_URL": "http://127.0.0.1:9",
            "LOG_LEVEL": "WARNING",
        }
        self.pg_port = pg
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], check=True, env=self.env)
        for name, args in (
            ("worker", ["procrastinate", "worker"]),
            ("reconciler", ["reconcile_results"]),
        ):
            self.children.append(
                Child(name, [*manage, *args], env=self.env, log=self.tmp / f"{name}.log")
            )
        web = WebTier(
            port=free_port(),
            env=self.env,
            sizing=WebSizing(),
            directory=self.tmp / "web",
            log_dir=self.tmp,
        )
        self.children += web.start_all()
        self.url = web.url

    def stop(self):
        stop_all(self.children)


SEED = """
import json
from knox.models import AuthToken
from bench.fixtures import create_voters, staff_user
print("TOKENS=" + json.dumps([AuthToken.objects.create(staff_user())[1], *create_voters(%d)]))
"""


def seed(env, voters):
    """A staff token, then `voters` verified voters' tokens, in the database of `env`."""
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SEED % voters],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(next(x for x in out.splitlines() if x.startswith("TOKENS="))[7:])


def open_poll(url, staff, title, *, labels=("Ada", "Grace"), ballot_kind="single"):
    """An open poll (options Ada and Grace by default), created over the API."""
    return httpx.post(
        f"{url}/api/v1/polls",
        headers={"Authorization": f"Bearer {staff}"},
        json={
            "title": title,
            "closes_at": "2099-01-01T00:00:00Z",
            "options": [{"label": label} for label in labels],
            "ballot_kind": ballot_kind,
        },
        timeout=30,
    ).json()


def _polls(url, staff, count, title):
    polls = []
    for n in range(count):
        poll = open_poll(url, staff, f"{title} {n}")
        polls.append(Poll(poll["id"], [o["id"] for o in poll["options"]]))
    return polls


@dataclass
class Side:
    """One topology under measure: its front door, its voters' tokens (the staff's first)
    and its primary's port (for the audit)."""

    name: str
    url: str
    tokens: list
    pg_port: int


def measure(sides, tmp):
    """Votes, then results under voting, ROUNDS rounds, the sides alternating within each
    round (so a drift of the shared machine hits them all); fresh voters per run."""
    loads = {side.name: {"votes": [], "results_under_voting": []} for side in sides}
    polls = {}
    for side in sides:
        staff = side.tokens[0]
        polls[side.name] = (
            _polls(side.url, staff, ROUNDS, "votes"),
            _polls(side.url, staff, ROUNDS, "reads"),
        )
    for r in range(ROUNDS):
        for side in sides:
            vote_polls, read_polls = polls[side.name]
            voters = side.tokens[1:]
            mine = voters[r * VOTERS_PER_ROUND : (r + 1) * VOTERS_PER_ROUND]
            data = write_wrk_data(tmp / f"{side.name}-votes-{r}.txt", mine, [vote_polls[r]])
            loads[side.name]["votes"].append(
                vote_load(side.url, f"{side.name} votes #{r + 1}", data)
            )
            bg = voters[(ROUNDS + r) * VOTERS_PER_ROUND : (ROUNDS + r + 1) * VOTERS_PER_ROUND]
            bg_data = write_wrk_data(tmp / f"{side.name}-bg-{r}.txt", bg, [read_polls[r]])
            background = http_load.start(
                side.url,
                label="background",
                mode="vote",
                data=bg_data,
                window=WINDOW + 2,
                threads=1,
                connections=4,
                pace_ms=30,
            )
            time.sleep(1)
            load = http_load.run(
                side.url,
                label=f"{side.name} results #{r + 1}",
                mode="get",
                window=WINDOW,
                threads=THREADS,
                connections=CONNECTIONS,
                path=f"/api/v1/polls/{read_polls[r].id}/results",
            )
            http_load.finish(background)
            loads[side.name]["results_under_voting"].append(load)
            say_load(load)
    return {
        side.name: {
            **{key: summary(runs) for key, runs in loads[side.name].items()},
            "audit": audit(side.pg_port),
        }
        for side in sides
    }


VOTERS = 2 * ROUNDS * VOTERS_PER_ROUND  # per side
SYNC_VOTERS = 2 * ROUNDS * VOTERS_PER_ROUND  # the cluster's, with and without sync


def start_cluster(directory):
    env = {**os.environ, "LOG_LEVEL": "WARNING"}
    for name in ("DATABASE_URL", "REDIS_URL", "REGISTRY_URL"):
        env.pop(name, None)
    cluster = Cluster(directory, port=free_port(), env=env)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster


def cluster_phase(run_side, directory):
    """make bench's last phase: `run_side` (its own make run stack) against a cluster
    started here; returns the figures, the backends under 1,000 clients included."""
    cluster = start_cluster(directory)
    try:
        tokens = seed(cluster.env, VOTERS + SYNC_VOTERS)
        side = Side("make cluster", cluster.web.url, tokens, cluster.ports.primary)
        figures = measure([run_side, side], directory)
        if any(figures["make cluster"][key]["errors"] for key in ("votes", "results_under_voting")):
            say_what_failed(cluster.log_dir)
        figures["synchronous replication"] = synchronous_cost(
            cluster, side.url, tokens[0], tokens[1 + VOTERS :], directory
        )
        poll = open_poll(side.url, tokens[0], "a thousand clients")
        figures["backends under 1,000 clients"] = thousand_clients(cluster, side.url, poll["id"])
        return figures
    finally:
        cluster.stop()


def say_what_failed(log_dir, limit=20):
    """The evidence of errors, said before the cluster and its logs go: the front's
    request lines with a status of 400 or more, and the API servers' warnings."""
    failed = [
        line
        for line in (log_dir / "requests.log").read_text(errors="replace").splitlines()
        if re.search(r" status=[45]\d\d ", line)
    ]
    warned = [
        f"{path.name}: {line}"
        for path in sorted(log_dir.glob("api-*.log"))
        for line in path.read_text(errors="replace").splitlines()
        if " WARNING " in line or " ERROR " in line
    ]
    for line in failed[:limit] + warned[:limit]:
        say(f"  {line}")


def vote_load(url, label, data):
    """One round of HTTP votes (wrk, `data`'s ballots), said as it ends."""
    load = http_load.run(
        url,
        label=label,
        mode="vote",
        data=data,
        window=WINDOW,
        threads=THREADS,
        connections=CONNECTIONS,
    )
    say_load(load)
    return load


def synchronous_cost(cluster, url, staff, voters, tmp):
    """HTTP votes on the cluster with Patroni's synchronous_mode on (a commit waits for the
    standby's flush) and off, ROUNDS rounds, alternating within each; on again after."""
    polls = _polls(url, staff, 2 * ROUNDS, "synchronous")
    loads = {"on": [], "off": []}
    try:
        for r in range(ROUNDS):
            for n, mode in enumerate(("on", "off")):
                set_synchronous(cluster, mode == "on")
                i = 2 * r + n
                mine = voters[i * VOTERS_PER_ROUND : (i + 1) * VOTERS_PER_ROUND]
                data = write_wrk_data(tmp / f"synchronous-{i}.txt", mine, [polls[i]])
                loads[mode].append(vote_load(url, f"synchronous_mode {mode} #{r + 1}", data))
    finally:
        set_synchronous(cluster, True)
    return {mode: summary(runs) for mode, runs in loads.items()}


def set_synchronous(cluster, on, timeout=30):
    """synchronous_mode in the cluster's settings (etcd), then until the leader applies it:
    a standby named in its synchronous_standby_names, or none."""
    set_dynamic(cluster.nodes[0], synchronous_mode=on)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = psycopg2.connect(
            host="127.0.0.1", port=cluster.ports.primary, user="postgres", dbname="polls"
        )
        try:
            with conn.cursor() as cursor:
                cursor.execute("SHOW synchronous_standby_names")
                [(names,)] = cursor.fetchall()
        finally:
            conn.close()
        if bool(names) == on:
            return
        time.sleep(0.25)
    raise RuntimeError(f"synchronous_mode={on} not applied in {timeout} s")


def summary(loads):
    return {
        "rate": round(sum(x.rate for x in loads) / len(loads)),
        "p50_ms": round(merged_percentile(loads, 50), 1),
        "p99_ms": round(merged_percentile(loads, 99), 1),
        "errors": sum(x.errors for x in loads),
        "errors_by_kind": what_went_wrong(loads),
        "rounds": [round(x.rate) for x in loads],
    }


def audit(port):
    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="polls")
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT COALESCE(SUM(counted), 0), COALESCE(SUM(ballots), 0) FROM tally_audit"
            )
            counted, ballots = cursor.fetchone()
    finally:
        conn.close()
    return {"counted": int(counted), "ballots": int(ballots), "drift": int(counted - ballots)}


class BackendSampler:
    """Every 50 ms, in a thread of its own: the leader's client backends, and PgBouncer's
    server connections to it (SHOW SERVERS)."""

    def __init__(self, cluster):
        self.cluster, self.samples, self.pooled = cluster, [], []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def sample(self):
        pooled = server_connections(self.cluster.ports.pgbouncer, "polls")
        conn = psycopg2.connect(
            host="127.0.0.1", port=self.cluster.ports.primary, user="postgres", dbname="polls"
        )
        try:
            with conn.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) - 1 FROM pg_stat_activity"
                    " WHERE backend_type = 'client backend'"
                )
                [(backends,)] = cursor.fetchall()
                return backends, pooled
        finally:
            conn.close()

    def _run(self):
        while not self._stop.is_set():
            backends, pooled = self.sample()
            self.samples.append(backends)
            self.pooled.append(pooled)
            time.sleep(0.05)

    def __enter__(self):
        self.at_rest = self.sample()[0]
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def http_crowd(url, path, clients=1000, requests_each=2):
    """`clients` bare keep-alive connections (a full HTTP client each would cost more than
    the servers), all connected first, then each sending `requests_each` GETs of `path`
    one after the other; returns the statuses and the seconds from the start signal."""
    host, port = url.removeprefix("http://").split(":")
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()

    async def one(go):
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            await go.wait()
            statuses = []
            for _ in range(requests_each):
                writer.write(request)
                statuses.append(int((await reader.readline()).split()[1]))
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    key, _, value = line.decode().partition(":")
                    if key.strip().lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
            return statuses
        finally:
            writer.close()

    async def crowd():
        go = asyncio.Event()
        tasks = [asyncio.ensure_future(one(go)) for _ in range(clients)]
        await asyncio.sleep(1)  # all connected, then all at once
        go.set()
        started = time.monotonic()
        results = await asyncio.gather(*tasks)
        return [s for pair in results for s in pair], time.monotonic() - started

    return asyncio.run(crowd())


def thousand_clients(cluster, url, poll_id):
    """1,000 clients, two GETs each of a database read (the poll's events), and the
    primary's backends meanwhile."""
    with BackendSampler(cluster) as sampler:
        statuses, seconds = http_crowd(url, f"/api/v1/polls/{poll_id}/events")
    return {
        "clients": 1000,
        "requests": len(statuses),
        "ok": statuses.count(200),
        "seconds": round(seconds, 1),
        "backends_at_rest": sampler.at_rest,
        "backends_max": max(sampler.samples),
        "pgbouncer_backends_max": max(sampler.pooled),
        "pool_size": cluster.pool_size,
    }


def main():
    """Standalone: make run's topology and the cluster, side by side."""
    raise_open_files_limit()
    http_load.ensure_wrk(say)
    tmp = Path(tempfile.mkdtemp(prefix="pollsite-bench-cluster-"))
    tmp.chmod(0o755)
    (tmp / "single").mkdir()
    single = Single(tmp / "single")
    try:
        say("make run's topology: starting")
        single.start()
        run_side = Side("make run", single.url, seed(single.env, VOTERS), single.pg_port)
        say("make cluster: starting")
        figures = cluster_phase(run_side, tmp / "cluster")
    finally:
        single.stop()
    write(figures)
    return 0


HEADER = (
    f"{ROUNDS} rounds of {WINDOW} s each, the two alternating within a round; {THREADS} wrk "
    f"threads, {CONNECTIONS} connections; results read while 4 connections vote every 30 ms. "
    "On 2 cores the cluster runs its 26 processes (three etcd members, three PostgreSQL "
    "nodes each with its Patroni, HAProxy and the 16 before them) on the same 2 cores as "
    "make run's 9, so "
    "this measures what the pieces cost and that nothing breaks, not what more machines give."
)


def _kinds(figure):
    kinds = figure.get("errors_by_kind")
    return f" {kinds}" if kinds else ""


def markdown(figures):
    """The comparison table and the backends line (bench/RESULTS.md, bench/CLUSTER.md)."""
    lines = [HEADER, "", "| Figure | make run | make cluster |", "|---|---|---|"]
    run, cluster = figures["make run"], figures["make cluster"]
    for key, label in (("votes", "HTTP votes"), ("results_under_voting", "Results under voting")):
        a, b = run[key], cluster[key]
        lines.append(
            f"| {label} | {a['rate']}/s, p50 {a['p50_ms']} ms, p99 {a['p99_ms']} ms, "
            f"errors {a['errors']}{_kinds(a)} | {b['rate']}/s, p50 {b['p50_ms']} ms, "
            f"p99 {b['p99_ms']} ms, errors {b['errors']}{_kinds(b)} |"
        )
    a, b = run["audit"], cluster["audit"]
    lines.append(
        f"| Audit: counted, ballots, drift | {a['counted']}, {a['ballots']}, {a['drift']} "
        f"| {b['counted']}, {b['ballots']}, {b['drift']} |"
    )
    t = figures["backends under 1,000 clients"]
    lines += [
        "",
        f"1,000 concurrent HTTP clients of the cluster ({t['requests']} requests, {t['ok']} "
        f"answered 200 in {t['seconds']} s): at most {t['pgbouncer_backends_max']} PostgreSQL "
        f"backends served PgBouncer (pool size {t['pool_size']}); {t['backends_max']} client "
        f"backends in all (at rest {t['backends_at_rest']}: the direct connections of the "
        "streams, workers, reconcilers and replica checks).",
    ]
    cost = figures.get("synchronous replication")
    if cost:
        on, off = cost["on"], cost["off"]
        lines += [
            "",
            "What synchronous replication costs the vote path (the cluster, HTTP votes, "
            f"{ROUNDS} rounds alternating): with Patroni's synchronous_mode {on['rate']}/s, "
            f"p50 {on['p50_ms']} ms, p99 {on['p99_ms']} ms, errors {on['errors']}; without it "
            f"{off['rate']}/s, p50 {off['p50_ms']} ms, p99 {off['p99_ms']} ms, errors "
            f"{off['errors']}.",
        ]
    return "\n".join(lines)


def write(figures):
    text = "\n".join(
        [
            "# make run against make cluster, in one run",
            "",
            "Written by `python -m bench.cluster` on "
            + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            + " (`make bench` writes the same table into bench/RESULTS.md).",
            "",
            markdown(figures),
            "",
            "```json",
            json.dumps(figures, indent=2),
            "```",
            "",
        ]
    )
    OUT.write_text(text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
