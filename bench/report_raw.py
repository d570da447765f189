"""The raw numbers of a run, as Markdown sections of bench/RESULTS.md."""


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _f(x, digits=1):
    return "n/a" if x is None else f"{x:,.{digits}f}"


def _pct(x):
    return "n/a" if x is None else f"{100 * x:.1f} %"


def sections(run):
    return (
        _servers(run.get("servers"))
        + _db(run["db_layer"])
        + _votes(run["http_votes"])
        + _results(run["http_results"])
        + _tail_layouts(run.get("tail_layouts"))
        + _freshness(run["freshness"], run["sse_fan_out"])
        + _out_of_band(run.get("out_of_band"))
        + _equal_load(run.get("equal_load"))
        + _audits(run["audits"])
        + _profiles(run.get("profiles"))
    )


def _servers(servers):
    if not servers:
        return []
    out = ["## 0. App servers: the same no-op GET on each candidate", ""]
    out += _table(
        ["server (2 workers)", "req/s (mean)", "low", "high", "p99 ms", "errors"],
        [
            (r["server"], _f(r["rate"], 0), _f(r["low"], 0), _f(r["high"], 0))
            + (_f(r["p99_ms"]), r["errors"])
            for r in servers["rows"]
        ],
    )
    out += [
        f"Fastest candidate: {servers['best']}. The shipped server (granian) does "
        f"{_pct(servers['shipped_server_ratio'])} of it; through nginx (one origin) "
        f"{_pct(servers['front_ratio'])} of granian alone. The request log costs "
        f"{_pct(servers['request_log_cost'])} of the no-op GET written by nginx, "
        f"{_pct(servers['app_request_log_cost'])} written by the app.",
        "",
    ]
    return out


def _db(db):
    out = ["## 1. Database layer (pgbench)", ""]
    out += _table(
        ["variant", "clients", "ceiling tps", "tps", "of ceiling", "goal", "met"],
        [
            (r["variant"], r["clients"], _f(r["ceiling_tps"], 0), _f(r["tps"], 0))
            + (_pct(r["ratio"]), f"{r['goal']:.0%}", r["met"])
            for r in db["summary"]
        ],
    )
    out += ["Every pgbench run (the experiments' included):", ""]
    out += _table(
        ["variant", "clients", "tps", "latency ms", "transactions", "rows", "drift"],
        [
            (r["variant"], r["clients"], _f(r["tps"], 0), r["latency_ms"], r["transactions"])
            + (r["rows"], r["drift"])
            for r in db["runs"]
        ],
    )
    if db["experiments"]:
        out += [
            "Fixes tried (bench/sql/*.sql, each installed for its runs only; mean tps over "
            "rounds interleaved with ceiling runs of its own):",
            "",
        ]
        out += _table(
            ["experiment", "variant", "clients", "tps", "ceiling tps", "of ceiling", "goal"]
            + ["drift"],
            [
                (e["experiment"], e["variant"], e["clients"], _f(e["tps"], 0))
                + (_f(e["ceiling_tps"], 0), _pct(e["ratio"]), f"{e['goal']:.0%}", e["drift"])
                for e in db["experiments"]
            ],
        )
    return out


def _load_rows(loads):
    return [
        (
            x["label"],
            x["connections"],
            _f(x["ok_rate"]),
            _f(x["p50_ms"]),
            _f(x["p90_ms"]),
            _f(x["p99_ms"]),
            _f(x["max_ms"]),
            x["statuses"],
            x["errors"],
            x["issued"],
        )
        for x in loads
    ]


LOAD_HEADER = ["run", "conns", "ok/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "statuses"]
LOAD_HEADER += ["errors", "sent"]


def _votes(votes):
    out = ["## 2. HTTP votes", ""]
    out += _table(LOAD_HEADER, _load_rows(votes["runs"]))
    return out


def _results(res):
    out = ["## 3. HTTP results under voting", ""]
    out += [f"Preloads: {res['preloads']}", ""]
    loads = [load for figure in res["runs"].values() for load in figure["runs"]]
    out += _table(LOAD_HEADER, _load_rows(loads))
    return out


def _freshness(fresh, fan):
    out = ["## 4. Freshness and fan-out", ""]
    out += _table(["measure", "value"], sorted(fresh.items()))
    out += ["1,000 subscribers on the one stream process (uvicorn --workers 1):", ""]
    out += _table(["measure", "value"], sorted(fan.items()))
    return out


def _out_of_band(oob):
    if not oob:
        return []
    out = ["## 6. Votes written outside the API (SQL INSERT -> results)", ""]
    out += _table(["measure", "value"], sorted(oob.items()))
    return out


def sections_of_tails(votes, results, layouts, equal):
    """`python -m bench --tails`: figures 2, 3 and 9, as RESULTS.md would show them."""
    return _votes(votes) + _results(results) + _tail_layouts(layouts) + _equal_load(equal)


def _tail_layouts(layouts):
    """Figure 3's tail by serving layout (bench/layouts.py)."""
    if not layouts:
        return []
    out = [
        "## 3b. The results read's tail by serving layout",
        "",
        "The same closed loop as figure 3 (the read of a poll with its votes preloaded, "
        "while 4 connections vote on it every 30 ms), on web tiers that differ only in "
        f"threads per API worker; {layouts['rounds']} alternating rounds, latencies merged. "
        "The background votes are paced, so a layout that answers them slower gets fewer.",
        "",
    ]
    out += _table(
        ["API workers x threads", "reads/s", "p50 ms", "p99 ms", "p99.9 ms", "p99 / p50"]
        + ["votes/s", "votes p99 ms"],
        [
            (r["layout"], _f(r["rate"], 0), _f(r["p50_ms"]), _f(r["p99_ms"]), _f(r["p999_ms"]))
            + (_times(r["p99_over_p50"]), _f(r["votes_rate"], 0), _f(r["votes_p99_ms"]))
            for r in layouts["rows"]
        ],
    )
    return out


def _times(x):
    return "n/a" if x is None else f"{x:.1f}x"


EQUAL_LOAD_COLUMNS = (
    "figure|offered /s|server|p50 ms|p99 ms|p99.9 ms|p99 by round, ms|answers|not ok"
)


def _equal_load(equal):
    """Figure 9: latency at equal offered load, ours and the reference, per rate."""
    if not equal:
        return []
    out = [
        "## 9. Latency at equal offered load (open loop)",
        "",
        f"The reference app's closed-loop capacity: {equal['capacity']}; "
        f"{equal['rounds']} rounds of {equal['seconds']} s, latencies of the rounds merged.",
        "",
    ]
    out += _table(
        EQUAL_LOAD_COLUMNS.split("|"),
        [
            (
                r["kind"],
                f"{r['rate']:.0f} ({r['share']:.0%})",
                r["who"],
                _f(r["p50_ms"]),
                _f(r["p99_ms"]),
                _f(r["p999_ms"]),
                ", ".join(_f(ms) for ms in r.get("round_p99_ms", [])) or "n/a",
                r["answers"],
                r["not_ok"],
            )
            for r in sorted(equal["rows"], key=lambda r: (r["kind"], r["share"], r["who"]))
        ],
    )
    return [*out, ""]


def _audits(audits):
    out = ["## 5. Audits after each phase", ""]
    out += _table(
        ["phase", "201s", "preloaded", "unanswered", "rows", "tally drift", "ok"],
        [
            (
                a["phase"],
                a["created_201"],
                a["preloaded"],
                a.get("unanswered", 0),
                a["rows"],
                a["drift"],
                a["ok"],
            )
            for a in audits
        ],
    )
    return out


def _profiles(profiles):
    if not profiles:
        return []
    out = ["## Profiles (py-spy, `--profile`, separate runs after the measurements)", ""]
    out += ["Inclusive share of the workers' busy samples, request plumbing left out.", ""]
    for label, rows in profiles.items():
        out += [f"### {label}", ""]
        out += _table(["share", "function"], [(f"{100 * s:.1f} %", f) for s, f in rows])
    return out
