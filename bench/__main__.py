"""`make bench`: measure the poll service on a throwaway stack, print the goals table,
write bench/RESULTS.md and bench/results.json.

    .venv/bin/python -m bench            # the full run, under 10 minutes on 2 cores
    .venv/bin/python -m bench --quick    # a shorter smoke run (not comparable)
    .venv/bin/python -m bench --keep     # keep the temporary folder (logs, data)

Phases, in order: the database layer (pgbench, before any other data exists), the app
server candidates' no-op GET (figure 0), HTTP votes, results under voting with 1,000 and
1,000,000 votes preloaded and the results read's tail by serving layout, latency at
equal offered load, stream freshness with 100 subscribers, votes written outside
the API (figure 6), and 1,000 subscribers on the single stream process. Each phase that
votes is audited (figure 5). Ctrl-C, an error or a SIGTERM stops every server it started.
"""

import argparse
import asyncio
import signal
import sys
import time
from dataclasses import asdict, dataclass
from functools import partial

from bench import (
    audit,
    db_layer,
    equal_load,
    fixtures,
    freshness,
    http_figures,
    http_load,
    layouts,
    out_of_band,
    preload,
    profile,
    ranked,
    report,
    report_raw,
    servers,
)
from bench import graphql as graphql_figure
from bench.reference import harness as reference_harness
from bench.stack import Stack, raise_open_files_limit
from bench.stats import ratio
from devstack.web import WebSizing

# Polls of figure 9's votes, for each side: 4,000 voters each, enough for its rounds.
EQUAL_LOAD_POLLS = 3


@dataclass
class Config:
    db_clients: tuple = (8, 32)
    db_seconds: int = 4
    db_rounds: int = 3
    experiments: bool = True
    experiment_rounds: int = 2
    voters: int = 4000
    vote_polls: int = 9  # split between the rounds of figure 2
    threads: int = 2
    connections: int = 16
    window: int = 6  # seconds of load per HTTP run
    rounds: int = 3  # p99 from the merged latencies of every round (bench/stats.py)
    bg_connections: int = 4  # background voting during figure 3
    bg_pace_ms: int = 30
    layout_rounds: int = 2  # figure 3's tail under other serving layouts (bench/layouts.py)
    small_preload: int = 1000
    big_preload: int = 1_000_000
    ranked_ballots: int = 1_000_000
    equal_rounds: int = 4  # figure 9: even, so that each side goes first as often
    equal_seconds: int = 6
    subscribers: int = 100
    fresh_votes: int = 200
    fresh_rate: float = 20.0
    fan_out: int = 1000
    out_of_band: int = 10

    @classmethod
    def quick(cls):
        return cls(
            db_seconds=2,
            db_rounds=1,
            experiments=False,
            window=3,
            rounds=1,
            layout_rounds=1,
            big_preload=100_000,
            ranked_ballots=100_000,
            equal_rounds=1,
            equal_seconds=3,
            fresh_votes=40,
            out_of_band=3,
        )


class Clock:
    def __init__(self):
        self.started = time.monotonic()

    def elapsed(self):
        return time.monotonic() - self.started

    def say(self, message):
        print(f"[bench {self.elapsed():6.1f}s] {message}", flush=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--no-experiments", action="store_true", help="skip the database-layer fixes"
    )
    parser.add_argument(
        "--profile", action="store_true", help="then profile the HTTP paths with py-spy"
    )
    parser.add_argument(
        "--tails",
        action="store_true",
        help="only the tails: figures 2, 3 and 9 (printed; RESULTS.md is left as it is)",
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.quick() if args.quick else Config()
    if args.no_experiments or args.tails:
        cfg.experiments = False
    if args.tails:  # the 1,000,000-vote read is figure 3's scale check, not a tail
        cfg.big_preload = 10_000
    clock = Clock()

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    limits = raise_open_files_limit()
    clock.say(f"open files limit {limits[0]} (soft) / {limits[1]} (hard)")
    wrk_version = http_load.wrk_version() if http_load.ensure_wrk(clock.say) else None
    stack = Stack(clock.say)
    try:
        bench = Bench(stack, cfg, clock, profile=args.profile)
        if args.tails:
            return bench.run_tails()
        run = bench.run(wrk_version)
    except KeyboardInterrupt:
        clock.say("interrupted: stopping everything")
        return 130
    except Exception:
        for name in ("app", "app-1-worker", "postgres"):
            tail = stack.log_tail(name, 15)
            if tail:
                print(f"--- last lines of {name}.log ---\n{tail}", file=sys.stderr)
        raise
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not orphan
        stack.stop(keep=args.keep)
        clock.say(f"all servers stopped; total {clock.elapsed():.0f}s")
    print()
    print(report.table_text(run["goals"]))
    print(f"\nWrote {report.RESULTS_MD} and {report.RESULTS_JSON} in {run['elapsed_s']:.0f}s.")
    return 0


class Bench:
    """The phases of one run, in order; each adds its part to self.out."""

    def __init__(self, stack, cfg, clock, *, profile=False):
        self.stack, self.cfg, self.clock = stack, cfg, clock
        self.profile = profile
        self.say = clock.say
        self.out = {"date": report.now_iso(), "settings": asdict(cfg), "audits": []}
        self.base = None

    def phase(self, name):
        self.say(f"== {name}")

    def run(self, wrk_version):
        self.start_stack()
        self.out["machine"] = report.machine()
        self.out["versions"] = report.versions(self.stack, wrk_version)
        self.database_layer()
        self.start_servers()
        self.servers()
        self.start_reference()
        self.http_votes()
        self.http_results()
        self.tail_layouts()
        self.equal_load()
        self.graphql_results()
        self.freshness()
        self.out_of_band()
        self.fan_out()
        self.cluster()
        if self.profile:
            self.profiles()
        # Last: every audit after it would recount its million ranked ballots.
        self.ranked_results()
        self.phase("final audit")
        self.out["final_drift"] = audit.total_drift(self.stack)
        self.say(f"  tally_audit: total drift {self.out['final_drift']}")
        self.out["elapsed_s"] = self.clock.elapsed()
        self.out["goals"] = report.goals(self.out)
        report.write(self.out)
        return self.out

    def run_tails(self):
        """`--tails`: the closed-loop figures the tail goals read (2 and 3) and latency at
        equal offered load (9), about 8 minutes; printed, bench/RESULTS.md untouched."""
        self.start_stack()
        self.start_servers()
        self.phase("app servers: the candidates, for figure 3")
        self.start_candidates()
        self.start_reference()
        self.http_votes()
        self.http_results()
        self.tail_layouts()
        self.equal_load()
        votes, results = self.out["http_votes"], self.out["http_results"]
        print(
            "\n".join(
                report_raw.sections_of_tails(
                    votes, results, self.out["tail_layouts"], self.out["equal_load"]
                )
            )
        )
        return 0 if all(a["ok"] for a in self.out["audits"]) else 1

    def start_stack(self):
        self.phase("stack: PostgreSQL 18 (durable), Redis, migrations")
        self.stack.start()
        fixtures.setup_django()

    def start_servers(self):
        self.phase(f"fixtures: {self.cfg.voters} verified voters with tokens, polls")
        self.tokens = fixtures.create_voters(self.cfg.voters)
        sizing = WebSizing()
        self.phase(
            "web tier as `make run` starts it: nginx, granian "
            f"({sizing.api_workers} x {sizing.api_threads} threads), uvicorn"
        )
        web, children = self.stack.start_web("web")
        self.app, self.base = children[0], web.url  # children[0]: granian, the API server
        self.stack.start_background()
        warm = fixtures.create_polls(1, title="Warm-up")[0]
        self.audit(http_figures.warm_up(self.stack, self.base, self.tokens, warm, say=self.say))

    def start_reference(self):
        self.phase(
            f"reference app: a typical DRF backend (gunicorn x{reference_harness.WORKERS} sync,"
            " JWT, results cached 30 s), on the same PostgreSQL and Redis"
        )
        self.reference = reference_harness.start(
            self.stack,
            voters=self.cfg.voters,
            # figure 2's, then figure 9's votes, then the one read in figures 3 and 9
            polls=self.cfg.vote_polls + EQUAL_LOAD_POLLS + 1,
            preload_voters=self.cfg.small_preload,
            say=self.say,
        )

    def cluster(self):
        """make cluster (devstack/cluster.py) beside this run's make run stack: the same
        vote and results loads, alternating, and the backends under 1,000 clients."""
        from knox.models import AuthToken

        from bench import cluster
        from bench.cluster import Side

        self.phase("make cluster beside make run: the same loads, alternating (bench/cluster.py)")
        staff = AuthToken.objects.create(fixtures.staff_user())[1]
        tokens = fixtures.create_voters(cluster.VOTERS, prefix="cluster")
        run_side = Side("make run", self.base, [staff, *tokens], self.stack.pg_port)
        self.out["cluster"] = cluster.cluster_phase(run_side, self.stack.tmp / "cluster")

    def audit(self, result):
        self.out["audits"].append(result)
        verdict = "ok" if result["ok"] else "FAILED"
        self.say(
            f"  audit {result['phase']}: {result['created_201']} x 201 + "
            f"{result['preloaded']} preloaded, {result.get('unanswered', 0)} unanswered, "
            f"{result['rows']} rows, "
            f"drift {result['drift']}: {verdict}"
        )

    def database_layer(self):
        cfg = self.cfg
        self.phase(f"1. database layer: pgbench, {cfg.db_clients} clients")
        poll = fixtures.create_polls(1, title="pgbench")[0]
        self.out["db_layer"] = db_layer.figure(
            self.stack,
            poll,
            self.say,
            clients=cfg.db_clients,
            seconds=cfg.db_seconds,
            rounds=cfg.db_rounds,
            experiments=cfg.experiments,
            experiment_rounds=cfg.experiment_rounds,
        )
        for row in self.out["db_layer"]["summary"]:
            self.say(
                f"  {row['variant']} at {row['clients']} clients: {row['tps']:.0f} tps, "
                f"{100 * row['ratio']:.1f} % of the ceiling ({row['ceiling_tps']:.0f})"
            )

    def servers(self):
        cfg = self.cfg
        self.phase(
            f"0. app servers: no-op GET on each candidate, {cfg.rounds} rounds of {cfg.window}s"
        )
        self.start_candidates()
        self.out["servers"] = servers.figure(self.server_bases, cfg=cfg, say=self.say)

    def start_candidates(self):
        """The candidate app servers (figure 0; figure 3 reads the earlier one), warmed."""
        self.server_bases = servers.start_candidates(self.stack, self.base)
        for base in self.server_bases.values():
            if base != self.base:  # warm each one's imports and connections first
                http_load.run(
                    base,
                    label="warm",
                    mode="get",
                    path=http_figures.NOOP_GET,
                    window=2,
                    threads=1,
                    connections=4,
                )

    def http_votes(self):
        cfg = self.cfg
        self.phase(
            f"2. HTTP votes: wrk -t{cfg.threads} -c{cfg.connections}, {cfg.window}s a run, "
            f"{cfg.rounds} rounds of (no-op POST, vote, multiple and ranked ballots, the "
            "reference app's vote)"
        )
        polls = fixtures.create_polls(cfg.vote_polls, title="HTTP votes")
        kinds = {
            kind: fixtures.create_polls(cfg.vote_polls, title=f"HTTP {kind}", ballot_kind=kind)
            for kind in ("multiple", "ranked")
        }
        votes = http_figures.votes(
            self.stack,
            self.base,
            self.tokens,
            polls,
            kinds=kinds,
            reference=self.reference,
            cfg=cfg,
            say=self.say,
        )
        self.out["http_votes"] = votes
        self.audit(votes["audit"])
        self.audit(votes["reference_audit"])

    def http_results(self):
        cfg = self.cfg
        self.phase(f"3. preloading {cfg.small_preload:,} and {cfg.big_preload:,} votes")
        small, big, other, small_before = fixtures.create_polls(4, title="Results")
        self.small_poll = small
        preloads = [
            preload.through_triggers(self.stack, small, cfg.small_preload),
            preload.in_bulk(self.stack, big, cfg.big_preload),
            preload.through_triggers(self.stack, small_before, cfg.small_preload),
        ]
        for p in preloads:
            self.say(f"  {p}")
        ref_poll = self.reference.polls[-1]
        reference_harness.preload(self.reference, ref_poll, cfg.small_preload)
        self.phase("3. results reads under voting, against the no-op GET and the reference app")
        old_base = self.server_bases[servers.OLD_ASGI]
        Read = http_figures.Read
        reads = [
            Read("results 1k", f"/api/v1/polls/{small.id}/results", small, cfg.small_preload),
            Read("no-op GET", http_figures.NOOP_GET, other),
            Read("results 1M", f"/api/v1/polls/{big.id}/results", big, cfg.big_preload),
            # The same read on the configuration this replaced, under the same voting.
            Read(
                "results 1k, before",
                f"/api/v1/polls/{small_before.id}/results",
                small_before,
                cfg.small_preload,
                base=old_base,
            ),
            # A typical DRF backend's results, while its own votes arrive at the same pace.
            Read(
                "reference results 1k",
                self.reference.results_path(ref_poll),
                ref_poll,
                cfg.small_preload,
                base=self.reference.base,
                votes_to=(
                    self.reference.base,
                    reference_harness.VOTE_PATH,
                    self.reference.tokens,
                    partial(reference_harness.audit, self.reference),
                ),
            ),
        ]
        runs, audits = http_figures.results(
            self.stack, self.base, self.tokens, reads, cfg=cfg, say=self.say
        )
        for a in audits:
            self.audit(a)
        small_reads, noop, big_reads, old_reads, ref_reads = (
            runs[read.label]["reads"] for read in reads
        )
        self.out["http_results"] = {
            "preloads": preloads,
            "runs": runs,
            "results_rate": small_reads["rate"],
            "noop_rate": noop["rate"],
            "rate_ratio": ratio(small_reads["rate"], noop["rate"]),
            "results_p50_ms": small_reads["p50_ms"],
            "results_p99_ms": small_reads["p99_ms"],
            "noop_p50_ms": noop["p50_ms"],
            "noop_p99_ms": noop["p99_ms"],
            "p99_1k_ms": small_reads["p99_ms"],
            "p99_1m_ms": big_reads["p99_ms"],
            "p99_ratio": ratio(big_reads["p99_ms"], small_reads["p99_ms"]),
            "old_results_rate": old_reads["rate"],
            "vs_old_ratio": ratio(small_reads["rate"], old_reads["rate"]),
            "reference_rate": ref_reads["rate"],
            "reference_p50_ms": ref_reads["p50_ms"],
            "reference_p99_ms": ref_reads["p99_ms"],
            "vs_reference": ratio(small_reads["rate"], ref_reads["rate"]),
        }

    def tail_layouts(self):
        cfg = self.cfg
        self.phase(
            f"3b. the results read's tail by serving layout: threads per API worker "
            f"{', '.join(str(x.threads) for x in layouts.LAYOUTS)}, {cfg.layout_rounds} rounds"
        )
        figure, audits = layouts.figure(
            self.stack, self.base, self.tokens, rounds=cfg.layout_rounds, cfg=cfg, say=self.say
        )
        for a in audits:
            self.audit(a)
        self.out["tail_layouts"] = figure

    def graphql_results(self):
        cfg = self.cfg
        self.phase(
            "8. GraphQL under voting: the results query and the poll page against the REST "
            f"read (bench/graphql.py), {cfg.small_preload:,} votes preloaded in each poll"
        )
        polls = fixtures.create_polls(3, title="GraphQL")
        for poll in polls:
            self.say(f"  {preload.through_triggers(self.stack, poll, cfg.small_preload)}")
        found = graphql_figure.figure(
            self.stack,
            self.base,
            self.tokens,
            polls,
            preloaded=cfg.small_preload,
            cfg=cfg,
            say=self.say,
        )
        self.out["graphql"] = found
        self.audit(found.pop("audit"))

    def equal_load(self):
        cfg = self.cfg
        capacity = {
            "results": self.out["http_results"]["reference_rate"],
            "votes": self.out["http_votes"]["reference"]["rate"],
        }
        self.phase(
            "9. equal offered load: an open loop at 50 % and 80 % of the reference app's "
            f"rates ({capacity['results']:.0f} reads/s, {capacity['votes']:.0f} votes/s), "
            f"{cfg.equal_rounds} rounds of {cfg.equal_seconds}s (bench/equal_load.py)"
        )
        polls = fixtures.create_polls(EQUAL_LOAD_POLLS, title="Equal load")
        start = cfg.vote_polls
        result = equal_load.figure(
            self.base,
            self.tokens,
            polls,
            self.small_poll,
            self.reference,
            self.reference.polls[start : start + EQUAL_LOAD_POLLS],
            self.reference.polls[-1],
            capacity=capacity,
            rounds=cfg.equal_rounds,
            seconds=cfg.equal_seconds,
            say=self.say,
        )
        self.out["equal_load"] = result
        ours = [r for r in result["rows"] if r["kind"] == "votes" and r["who"] == "ours"]
        self.audit(
            audit.phase(
                self.stack,
                "equal load",
                [p.id for p in polls],
                created=sum(r["ok"] for r in ours),
                unanswered=sum(r["unanswered"] for r in ours),
            )
        )

    def ranked_results(self):
        cfg = self.cfg
        self.phase(
            f"7. ranked results: {cfg.ranked_ballots:,} ranked ballots over 10 options, "
            "read cold (bench/ranked.py)"
        )
        poll = fixtures.create_polls(1, title="Ranked", ballot_kind="ranked")[0]
        load = preload.ranked_in_bulk(self.stack, poll, cfg.ranked_ballots)
        self.say(f"  {load}")
        self.out["ranked_results"] = ranked.figure(self.stack, self.base, poll, load, say=self.say)

    def freshness(self):
        cfg = self.cfg
        self.phase(
            f"4. freshness: {cfg.subscribers} stream subscribers, {cfg.fresh_votes} votes "
            f"at {cfg.fresh_rate:.0f}/s, a results read after each 201"
        )
        poll = fixtures.create_polls(1, title="Freshness")[0]
        result = asyncio.run(
            freshness.freshness(
                self.base,
                poll,
                self.tokens[: cfg.fresh_votes],
                subscribers=cfg.subscribers,
                rate=cfg.fresh_rate,
            )
        )
        self.out["freshness"] = result
        self.say(f"  {result}")
        self.audit(audit.phase(self.stack, "freshness", [poll.id], created=result["votes_201"]))

    def out_of_band(self):
        cfg = self.cfg
        self.phase(f"6. votes written outside the API: {cfg.out_of_band} INSERTs with SQL")
        poll = fixtures.create_polls(1, title="Out of band")[0]
        result, audited = out_of_band.figure(
            self.stack, self.base, poll, samples=cfg.out_of_band, say=self.say
        )
        self.out["out_of_band"] = result
        self.audit(audited)

    def fan_out(self):
        cfg = self.cfg
        self.phase(f"SSE fan-out: {cfg.fan_out} subscribers on the stream servers, one vote")
        poll = fixtures.create_polls(1, title="Fan-out")[0]
        result = asyncio.run(
            freshness.fan_out(self.base, poll, self.tokens[0], subscribers=cfg.fan_out)
        )
        self.out["sse_fan_out"] = result
        self.say(f"  {result}")
        self.audit(audit.phase(self.stack, "fan-out", [poll.id], created=result["votes_201"]))

    def profiles(self):
        if not profile.py_spy():
            self.say("py-spy not found (.venv/bin/pip install py-spy): no profiles")
            return
        self.phase("profiles: py-spy on the app server, after the measurements")
        voted, read = fixtures.create_polls(2, title="Profile")
        tmp = self.stack.tmp
        votes = fixtures.write_wrk_data(tmp / "profile-votes.txt", self.tokens, [voted])
        background = fixtures.write_wrk_data(tmp / "profile-bg.txt", self.tokens, [read])
        cases = [
            ("vote", {"mode": "vote", "data": votes}, None),
            ("no-op POST", {"mode": "noop-vote", "data": votes}, None),
            (
                "results under voting",
                {"mode": "get", "path": f"/api/v1/polls/{read.id}/results"},
                background,
            ),
            ("no-op GET", {"mode": "get", "path": http_figures.NOOP_GET}, None),
        ]
        self.out["profiles"], created = {}, 0
        for label, load, bg_data in cases:
            summary, n = self._profile_one(label, load, bg_data)
            self.out["profiles"][label], created = summary, created + n
            self.say(f"  {label}: " + "; ".join(f"{100 * s:.0f}% {f}" for s, f in summary[:6]))
        self.audit(audit.phase(self.stack, "profiles", [voted.id, read.id], created=created))

    def _profile_one(self, label, load, bg_data, seconds=5):
        """One load under py-spy; returns its summary and the votes it created."""
        raw = self.stack.tmp / f"profile-{label.replace(' ', '-')}.txt"
        bg = None
        if bg_data:
            bg = http_load.start(
                self.base,
                label="background",
                mode="vote",
                data=bg_data,
                window=seconds + 2,
                threads=1,
                connections=self.cfg.bg_connections,
                pace_ms=self.cfg.bg_pace_ms,
            )
        sampler = profile.record(self.app.pid, seconds, raw)
        done = http_load.run(
            self.base,
            label=label,
            window=seconds,
            threads=self.cfg.threads,
            connections=self.cfg.connections,
            **load,
        )
        sampler.wait()
        created = done.expected if load["mode"] == "vote" else 0
        if bg:
            created += http_load.finish(bg).expected
        return profile.summarize(raw), created


if __name__ == "__main__":
    sys.exit(main())
