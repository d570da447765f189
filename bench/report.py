"""The outputs of a run: the summary table, bench/RESULTS.md and bench/results.json.

results.json keeps a list of runs, newest first (the last RUNS_KEPT), so a run after a
fix can be read next to the one before it; RESULTS.md shows the latest run in full and
the previous run's summary.
"""

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import graphql as graphql_figure

HERE = Path(__file__).resolve().parent
RESULTS_MD = HERE / "RESULTS.md"
RESULTS_JSON = HERE / "results.json"
RUNS_KEPT = 10


# --- what ran where ----------------------------------------------------------------------


def machine():
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "cpus": len(os.sched_getaffinity(0)),
        "cpu_model": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": _os_name(),
    }


def _os_name():
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return platform.system()


def versions(stack, wrk_version):
    import django
    import granian
    import httpx
    import rest_framework
    import uvicorn

    from devstack.postgres import pg_bin

    pgbench = subprocess.run(
        [pg_bin("pgbench"), "--version"], capture_output=True, text=True
    ).stdout.split()[-1]  # "pgbench (PostgreSQL) 18.6"
    redis_info = _redis_info(stack.env["REDIS_URL"])
    return {
        "python": sys.version.split()[0],
        "django": django.get_version(),
        "djangorestframework": rest_framework.VERSION,
        "postgresql": stack.scalar("SHOW server_version"),
        "pgbench": pgbench,
        "redis": redis_info,
        "granian": granian.__version__,
        "uvicorn": uvicorn.__version__,
        "httpx": httpx.__version__,
        "wrk": wrk_version,
    }


def _redis_info(url):
    import redis

    client = redis.Redis.from_url(url)
    try:
        return client.info("server")["redis_version"]
    finally:
        client.close()


# --- goals -------------------------------------------------------------------------------


def _pct(x):
    return "n/a" if x is None else f"{100 * x:.1f} %"


def _ms(x):
    return "n/a" if x is None else f"{x:.1f} ms"


def _times(a, b):
    return "n/a" if a is None or not b else f"{a / b:.1f}x"


def _against_reference(figure, ours, ref, rate_ratio, goal):
    """A goal row against the reference app: `goal` times its rate, p99 no worse."""
    met = (
        rate_ratio is not None
        and rate_ratio >= goal
        and ours["p99_ms"] is not None
        and ref["p99_ms"] is not None
        and ours["p99_ms"] <= ref["p99_ms"]
    )
    return (
        f"{figure} / the reference DRF app's",
        f"{ours['rate']:.0f} / {ref['rate']:.0f} per s = "
        + ("n/a" if rate_ratio is None else f"{rate_ratio:.2f}x")
        + f"; p50 {_ms(ours['p50_ms'])} / {_ms(ref['p50_ms'])}"
        f", p99 {_ms(ours['p99_ms'])} / {_ms(ref['p99_ms'])}",
        f">= {goal:g}x, p99 no worse",
        met,
    )


def goals(run):
    """Every goal of the issue: (figure, measured, goal, met)."""
    rows = []
    for row in run["db_layer"]["summary"]:
        rows.append(
            (
                f"1 {row['variant'].replace('_', ' ')}, {row['clients']} clients",
                f"{row['tps']:,.0f} tps = {_pct(row['ratio'])} of {row['ceiling_tps']:,.0f}",
                f">= {row['goal']:.0%}",
                row["met"],
            )
        )
    srv = run["servers"]
    rows.append(
        (
            "0 shipped server no-op GET / best candidate",
            f"granian {_pct(srv['shipped_server_ratio'])} of {srv['best']}"
            f" (through nginx: {_pct(srv['front_ratio'])} of granian)",
            ">= 90 %",
            srv["shipped_server_ratio"] >= 0.90,
        )
    )
    rows.append(
        (
            "0 request log share of a no-op GET",
            _pct(srv["request_log_cost"]),
            "<= 5 %",
            srv["request_log_cost"] <= 0.05,
        )
    )
    votes = run["http_votes"]
    vote, noop, ref = votes["vote"], votes["noop"], votes["reference"]
    rows.append(
        (
            "2 HTTP votes / no-op POST",
            f"{vote['rate']:.0f} / {noop['rate']:.0f} per s = {_pct(votes['ratio'])}"
            f" (p50 {_ms(vote['p50_ms'])} / {_ms(noop['p50_ms'])},"
            f" p99 {_ms(vote['p99_ms'])} / {_ms(noop['p99_ms'])})",
            ">= 80 %",
            votes["ratio"] is not None and votes["ratio"] >= 0.80,
        )
    )
    rows.append(_against_reference("2 votes", vote, ref, votes["vs_reference"], 2.0))
    for kind in ("multiple", "ranked"):
        kind_ratio = votes.get(f"{kind}_vs_single")
        if kind_ratio is None and kind not in votes:
            continue  # a run from before ballot kinds
        rows.append(
            (
                f"2 {kind} ballots / single votes",
                f"{votes[kind]['rate']:.0f} / {vote['rate']:.0f} per s = {_pct(kind_ratio)}"
                f" (p99 {_ms(votes[kind]['p99_ms'])} / {_ms(vote['p99_ms'])})",
                ">= 80 %",
                kind_ratio is not None and kind_ratio >= 0.80,
            )
        )
    res = run["http_results"]
    rows.append(
        (
            "3 results / no-op GET, under voting",
            f"{res['results_rate']:.0f} / {res['noop_rate']:.0f} per s = {_pct(res['rate_ratio'])}"
            f" (p50 {_ms(res['results_p50_ms'])} / {_ms(res['noop_p50_ms'])},"
            f" p99 {_ms(res['results_p99_ms'])} / {_ms(res['noop_p99_ms'])})",
            ">= 90 %",
            res["rate_ratio"] is not None and res["rate_ratio"] >= 0.90,
        )
    )
    rows.append(
        _against_reference(
            "3 results under voting",
            {
                "rate": res["results_rate"],
                "p50_ms": res["results_p50_ms"],
                "p99_ms": res["results_p99_ms"],
            },
            {
                "rate": res["reference_rate"],
                "p50_ms": res["reference_p50_ms"],
                "p99_ms": res["reference_p99_ms"],
            },
            res["vs_reference"],
            1.5,
        )
    )
    rows.append(
        (
            "3 results / the same read before (uvicorn ASGI)",
            f"{res['results_rate']:.0f} / {res['old_results_rate']:.0f} per s = "
            + ("n/a" if res["vs_old_ratio"] is None else f"{res['vs_old_ratio']:.1f}x"),
            ">= 3x",
            res["vs_old_ratio"] is not None and res["vs_old_ratio"] >= 3,
        )
    )
    rows.append(
        (
            "3 results p99, 1M / 1k votes",
            f"{_ms(res['p99_1m_ms'])} / {_ms(res['p99_1k_ms'])} = "
            + ("n/a" if res["p99_ratio"] is None else f"{res['p99_ratio']:.2f}"),
            "<= 1.2",
            res["p99_ratio"] is not None and res["p99_ratio"] <= 1.2,
        )
    )
    rows.extend(graphql_figure.rows(run, _ms))
    rows.append(
        (
            "3 results tail, closed loop: p99 / p50, and p99 / the reference's",
            f"{_ms(res['results_p99_ms'])} / {_ms(res['results_p50_ms'])} = "
            f"{_times(res['results_p99_ms'], res['results_p50_ms'])}; reference p99 "
            f"{_ms(res['reference_p99_ms'])}; the no-op GET's under the same voting "
            f"{_times(res['noop_p99_ms'], res['noop_p50_ms'])}",
            "<= 3x, and <= the reference's",
            res["results_p99_ms"] is not None
            and res["results_p50_ms"]
            and res["results_p99_ms"] <= 3 * res["results_p50_ms"]
            and res["results_p99_ms"] <= res["reference_p99_ms"],
        )
    )
    layouts = run.get("tail_layouts")
    if layouts is not None:
        rows.append(
            (
                "3 results tail by threads per API worker: p99 / p50 at reads/s",
                "; ".join(
                    f"{r['layout']} {r['p99_over_p50']:.1f}x at {r['rate']:.0f}/s"
                    f" (votes {r['votes_rate']:.0f}/s)"
                    for r in layouts["rows"]
                    if r["p99_over_p50"] is not None
                ),
                "measured",
                True,
            )
        )
    equal = run.get("equal_load")
    if equal is not None:
        by = {(r["kind"], r["share"], r["who"]): r for r in equal["rows"]}
        for kind, share in sorted({(r["kind"], r["share"]) for r in equal["rows"]}):
            ours, ref = by[(kind, share, "ours")], by[(kind, share, "reference")]
            p99_ratio = ours["p99_ms"] / ref["p99_ms"] if ref["p99_ms"] else None
            rows.append(
                (
                    f"9 {kind} at {share:.0%} of the reference's rate ({ours['rate']:.0f}/s): p99",
                    f"{_ms(ours['p99_ms'])} / {_ms(ref['p99_ms'])} = "
                    + ("n/a" if p99_ratio is None else f"{p99_ratio:.2f}")
                    + f" (p50 {_ms(ours['p50_ms'])} / {_ms(ref['p50_ms'])}, p99.9 "
                    f"{_ms(ours['p999_ms'])} / {_ms(ref['p999_ms'])})",
                    "<= 0.7",
                    p99_ratio is not None and p99_ratio <= 0.7 and not ours["not_ok"],
                )
            )
    ranked = run.get("ranked_results")
    if ranked is not None:
        rows.append(
            (
                f"7 ranked results, {ranked['ballots']:,} ballots: cold read",
                f"GET {_ms(ranked['cold_get']['median_ms'])} (max "
                f"{_ms(ranked['cold_get']['max_ms'])}); runoff "
                f"{_ms(ranked['runoff']['median_ms'])} over {ranked['distinct_rankings']:,} "
                f"rankings, {ranked['rounds']} rounds",
                "< 100 ms",
                ranked["ok"] and ranked["cold_get"]["max_ms"] < 100,
            )
        )
    fresh = run["freshness"]
    rows.append(
        (
            f"4 stream delay p99, {fresh['subscribers']} subscribers",
            f"p50 {_ms(fresh['delay_p50_ms'])}, p99 {_ms(fresh['delay_p99_ms'])}"
            f", {fresh['missing_pairs']} missed",
            "p99 <= 250 ms",
            fresh["delay_p99_ms"] is not None
            and fresh["delay_p99_ms"] <= 250
            and fresh["missing_pairs"] == 0,
        )
    )
    rows.append(
        (
            "4 stale results reads after a 201",
            f"{fresh['stale_reads']} of {fresh['results_reads']}",
            "0",
            fresh["stale_reads"] == 0 and fresh["results_reads"] > 0,
        )
    )
    oob = run["out_of_band"]
    rows.append(
        (
            "6 vote written outside the API, in results after",
            f"p50 {_ms(oob['delay_p50_ms'])}, max {_ms(oob['delay_max_ms'])}, "
            f"{oob['missed']} missed of {oob['samples']}",
            "max <= 2 s",
            oob["missed"] == 0 and oob["delay_max_ms"] is not None and oob["delay_max_ms"] <= 2000,
        )
    )
    audits = run["audits"]
    bad = [a["phase"] for a in audits if not a["ok"]]
    rows.append(
        (
            "5 tally drift 0 and 201s == rows",
            f"{len(audits) - len(bad)} of {len(audits)} phases"
            + (f" (failed: {', '.join(bad)})" if bad else ""),
            "every phase",
            not bad,
        )
    )
    fan = run["sse_fan_out"]
    rows.append(
        (
            f"SSE fan-out, {fan['subscribers']} subscribers",
            f"{fan['received']} received, p50 {_ms(fan['delay_p50_ms'])}"
            f", p99 {_ms(fan['delay_p99_ms'])}",
            "all receive it",
            fan["received"] == fan["subscribers"],
        )
    )
    cluster = run.get("cluster")
    if cluster:  # bench/cluster.py: make cluster beside make run, in this run
        t = cluster["backends under 1,000 clients"]
        rows.append(
            (
                "cluster: PostgreSQL backends under 1,000 clients",
                f"{t['pgbouncer_backends_max']} from PgBouncer ({t['ok']} of {t['requests']}"
                f" answered 200), {t['backends_max']} in all",
                f"<= pool size {t['pool_size']}",
                t["pgbouncer_backends_max"] <= t["pool_size"] and t["ok"] == t["requests"],
            )
        )
        c, r = cluster["make cluster"], cluster["make run"]
        rows.append(
            (
                "cluster: nothing breaks (votes, results under voting)",
                f"errors {c['votes']['errors']} + {c['results_under_voting']['errors']}"
                f"{_error_kinds(c)}, drift "
                f"{c['audit']['drift']} (make run: {r['votes']['errors']} + "
                f"{r['results_under_voting']['errors']}, drift {r['audit']['drift']})",
                "0 errors, 0 drift",
                not (c["votes"]["errors"] or c["results_under_voting"]["errors"])
                and c["audit"]["drift"] == 0,
            )
        )
    return [{"figure": f, "measured": m, "goal": g, "met": ok} for f, m, g, ok in rows]


def _error_kinds(side):
    """What the errors were ({'503': 3, 'unanswered': 1}), when there were any."""
    kinds = [side[key].get("errors_by_kind") for key in ("votes", "results_under_voting")]
    return "".join(f" {k}" for k in kinds if k)


# --- output ------------------------------------------------------------------------------


def table_text(goal_rows):
    widths = [max(len(r[k]) for r in goal_rows) for k in ("figure", "measured", "goal")]
    widths = [max(w, len(h)) for w, h in zip(widths, ("Figure", "Measured", "Goal"), strict=True)]
    header = ("Figure", "Measured", "Goal", "Result")
    lines = [_row(header, widths), _row(tuple("-" * w for w in widths) + ("------",), widths)]
    for r in goal_rows:
        lines.append(_row((r["figure"], r["measured"], r["goal"], _verdict(r)), widths))
    return "\n".join(lines)


def _row(cells, widths):
    return "  ".join(c.ljust(w) for c, w in zip(cells, [*widths, 0], strict=True)).rstrip()


def _verdict(row):
    return "met" if row["met"] else "MISSED"


def table_markdown(goal_rows):
    lines = ["| Figure | Measured | Goal | Result |", "|---|---|---|---|"]
    for r in goal_rows:
        verdict = "met" if r["met"] else "**missed**"
        lines.append(f"| {r['figure']} | {r['measured']} | {r['goal']} | {verdict} |")
    return "\n".join(lines)


def previous_runs():
    try:
        return json.loads(RESULTS_JSON.read_text())["runs"]
    except (FileNotFoundError, KeyError, ValueError):
        return []


def write(run):
    runs = [run, *previous_runs()][:RUNS_KEPT]
    RESULTS_JSON.write_text(json.dumps({"runs": runs}, indent=1, default=str) + "\n")
    RESULTS_MD.write_text(markdown(run, runs[1] if len(runs) > 1 else None))


def now_iso():
    return datetime.now(UTC).isoformat(timespec="seconds")


def markdown(run, previous):
    from bench import report_raw

    m, v = run["machine"], run["versions"]
    parts = [
        "# Benchmark results",
        "",
        f"Written by `make bench` on {run['date']} in {run['elapsed_s']:.0f} s. "
        "How to run it and how to read each figure: docs/benchmarks.md. "
        "Every run is also in bench/results.json (newest first).",
        "",
        f"- Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, "
        f"{m['os']}, kernel {m['kernel']}",
        "- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"- Settings: {run['settings']}",
        "",
        "## Goals",
        "",
        table_markdown(run["goals"]),
        "",
    ]
    if previous:
        parts += [
            f"## The run before ({previous['date']})",
            "",
            table_markdown(previous["goals"]),
            "",
        ]
    if run.get("cluster"):
        from bench import cluster

        parts += ["## make run against make cluster", "", cluster.markdown(run["cluster"]), ""]
    parts += report_raw.sections(run)
    return "\n".join(parts) + "\n"
