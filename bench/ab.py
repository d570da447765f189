"""Before and after in one run: the hot paths of an earlier commit against this tree's.

    .venv/bin/python -m bench.ab --before 748474e            # 3 rounds of 6 s
    .venv/bin/python -m bench.ab --before HEAD~3 --rounds 5

One throwaway stack (bench/stack.py: durable PostgreSQL, Redis, migrated by this tree),
one set of voters and polls, and two web tiers on it, each started by its own tree's
devstack.web (the earlier one from a git worktree of --before, with its own background
command), so each side runs exactly as its `make run` would. Then, in rounds that
alternate which side goes first, so a drift of the shared machine hits both: the no-op
GET and results, each under paced voting on a poll of its own (as figure 3 of make
bench), the no-op POST and votes (as figure 2), and the results read at a constant rate
(`--open-rate`, an open loop as figure 9's), on each side in turn. Rates are the rounds'
mean, p50 and p99 from the rounds' merged latencies (bench/stats.py). A change to a
vote, a results read, a stream event or the serving layer reports these figures in its
closing note.
"""

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

from bench import fixtures, http_load, open_loop
from bench.http_figures import NOOP_GET
from bench.stack import BASE_DIR, Stack, raise_open_files_limit
from bench.stats import mean, merged_percentile, ratio
from devstack.processes import Child

# Run inside the earlier tree: its own web tier, until SIGTERM (its servers are tied to
# it by PR_SET_PDEATHSIG, as every devstack child is).
LAUNCHER = """
import os, signal, sys, time
from pathlib import Path
from devstack.processes import free_port, stop_all
from devstack.web import WebSizing, WebTier
env = dict(os.environ)
web = WebTier(port=free_port(), env=env, sizing=WebSizing.from_env(env),
              directory=Path(sys.argv[1]), log_dir=Path(sys.argv[1]))
children = web.start_all()
signal.signal(signal.SIGTERM, lambda *_: (stop_all(children), sys.exit(0)))
print("URL", web.url, flush=True)
while True:
    time.sleep(3600)
"""
# The background command that kept cached results right in the earlier tree, if any.
BACKGROUND = ("reconcile_results", "watch_tallies")


@dataclass
class Side:
    name: str
    base: str
    polls: list


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.split("\n")[0])
    parser.add_argument("--before", required=True, help="the earlier commit (any git ref)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--window", type=int, default=6, help="seconds of load per run")
    parser.add_argument(
        "--open-rate",
        type=float,
        default=180.0,
        help="reads a second of the open-loop results read (0: none); 180 is about half "
        "the reference app's capacity in make bench (figure 9)",
    )
    args = parser.parse_args(argv)
    raise_open_files_limit()
    stack = Stack(lambda m: print(f"[ab] {m}", flush=True))
    tree = stack.tmp / "before-tree"
    try:
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(tree), args.before],
            cwd=BASE_DIR,
            check=True,
            capture_output=True,
        )
        stack.start()
        fixtures.setup_django()
        tokens = fixtures.create_voters(4000)
        sides = _start_sides(stack, tree, polls_each=3 * args.rounds)
        results = _measure(
            stack, sides, tokens, rounds=args.rounds, window=args.window, open_rate=args.open_rate
        )
    finally:
        stack.stop()
        subprocess.run(["git", "worktree", "prune"], cwd=BASE_DIR, check=False)
    print(_table(results, args))
    return 0


def _pythonpath_of(tree, tmp):
    """The earlier tree's import path. A tree from before the job engine ran without
    psycopg 3 installed; the shared venv has it now, and Django would take it for that
    tree's psycopg2 backend (pollsite/db_backend/driver.py, which such a tree lacks): so
    it gets a `psycopg` that cannot be imported, as it had then."""
    if (tree / "pollsite" / "db_backend" / "driver.py").exists():
        return str(tree)
    shim = tmp / "without-psycopg3" / "psycopg"
    shim.mkdir(parents=True, exist_ok=True)
    (shim / "__init__.py").write_text("raise ImportError('not installed for this tree')\n")
    return f"{shim.parent}{os.pathsep}{tree}"


def _start_sides(stack, tree, *, polls_each):
    web, _ = stack.start_web("after")
    stack.start_background(refresher=False)  # neither side's refresher: the same for both
    after = Side("after", web.url, fixtures.create_polls(polls_each, title="A/B after"))
    directory = stack.tmp / "before-web"
    directory.mkdir()
    env = {**stack.env, "PYTHONPATH": _pythonpath_of(tree, stack.tmp)}
    launcher = Child(
        "before-web",
        ["env", f"--chdir={tree}", sys.executable, "-c", LAUNCHER, str(directory)],
        env=env,
        log=stack.tmp / "before-web.log",
    )
    stack.children.append(launcher)
    base = _wait_for_url(stack.tmp / "before-web.log", launcher)
    command = next(c for c in BACKGROUND if (tree / f"polls/management/commands/{c}.py").exists())
    stack.children.append(
        Child(
            "before-background",
            ["env", f"--chdir={tree}", sys.executable, "manage.py", command],
            env=env,
            log=stack.tmp / "before-background.log",
        )
    )
    before = Side("before", base, fixtures.create_polls(polls_each, title="A/B before"))
    return [before, after]


def _wait_for_url(log, child, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
            if line.startswith("URL "):
                return line.split()[1]
        if not child.alive():
            raise RuntimeError(f"the earlier tree's web tier exited:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    raise RuntimeError("the earlier tree's web tier did not start")


CASES = ("no-op GET under voting", "results under voting", "no-op POST", "votes")
OPEN_LOOP = "results, open loop"


def _measure(stack, sides, tokens, *, rounds, window, open_rate):
    runs = {}
    load = {"window": window, "threads": 2, "connections": 16}
    for r in range(rounds):
        # Who goes first alternates too: the first side of a round runs right after the
        # other's loads, and takes what they leave on the shared cores (bench/equal_load.py).
        for side in sides if r % 2 == 0 else sides[::-1]:
            voted, read, other = side.polls[3 * r : 3 * r + 3]
            tmp = stack.tmp
            votes = fixtures.write_wrk_data(tmp / f"{side.name}-v{r}.txt", tokens, [voted])
            backgrounds = {
                poll.id: fixtures.write_wrk_data(
                    tmp / f"{side.name}-b{poll.id}.txt", tokens, [poll]
                )
                for poll in (read, other)
            }
            for name in CASES:
                result = _run(name, side, read, other, votes, backgrounds, load)
                runs.setdefault((name, side.name), []).append(result)
                print(
                    f"[ab] round {r + 1} {side.name:6} {name:20} {result.ok_rate:7.1f}/s"
                    f" p50 {result.p50_ms:6.1f} p99 {result.p99_ms:6.1f} {result.statuses}",
                    flush=True,
                )
            if open_rate:
                run = _open_loop_read(side, read, open_rate, window)
                runs.setdefault((OPEN_LOOP, side.name), []).append(run)
                print(
                    f"[ab] round {r + 1} {side.name:6} {OPEN_LOOP} {open_rate:.0f}/s offered:"
                    f" p50 {open_loop.percentile(run.latencies_ms, 50):6.1f}"
                    f" p99 {open_loop.percentile(run.latencies_ms, 99):6.1f} {dict(run.statuses)}",
                    flush=True,
                )
    return runs


def _open_loop_read(side, read, rate, window):
    host = side.base.removeprefix("http://")
    request = open_loop.request_bytes("GET", f"/api/v1/polls/{read.id}/results", host=host)
    return open_loop.run(
        side.base, itertools.repeat(request), label=OPEN_LOOP, rate=rate, seconds=window
    )


def _run(name, side, read, other, votes, backgrounds, load):
    if name == "results under voting":
        path = f"/api/v1/polls/{read.id}/results"
        return _under_voting(side, path, backgrounds[read.id], load)
    if name == "no-op GET under voting":
        return _under_voting(side, NOOP_GET, backgrounds[other.id], load)
    mode, path, data = {
        "no-op POST": ("noop-vote", "", votes),
        "votes": ("vote", "", votes),
    }[name]
    return http_load.run(side.base, label=name, mode=mode, path=path, data=data, **load)


def _under_voting(side, path, bg_data, load):
    background = http_load.start(
        side.base,
        label="bg",
        mode="vote",
        data=bg_data,
        window=load["window"] + 2,
        threads=1,
        connections=4,
        pace_ms=30,
    )
    time.sleep(1)
    reads = http_load.run(side.base, label=path, mode="get", path=path, **load)
    http_load.finish(background)
    return reads


def _table(runs, args):
    lines = [
        f"Before ({args.before}) and after (this tree), {args.rounds} alternating rounds of"
        f" {args.window} s, wrk -t2 -c16; rate = mean of the rounds, p50/p99 of their merged"
        " latencies.",
        "",
        "| figure | before | after | after / before |",
        "|---|---|---|---|",
    ]
    summary = {}
    for name in CASES:
        cells = {}
        for side in ("before", "after"):
            loads = runs[(name, side)]
            cells[side] = {
                "rate": mean([x.ok_rate for x in loads]),
                "p50": merged_percentile(loads, 50),
                "p99": merged_percentile(loads, 99),
                "errors": sum(x.errors for x in loads),
            }
        summary[name] = cells
        b, a = cells["before"], cells["after"]
        lines.append(
            f"| {name} | {b['rate']:.0f}/s, {_latencies(b)} | {a['rate']:.0f}/s, {_latencies(a)}"
            f" | {ratio(a['rate'], b['rate']):.2f}x |"
        )
    for side in ("before", "after"):
        read = summary["results under voting"][side]["rate"]
        vote = summary["votes"][side]["rate"]
        lines.append(
            f"| {side}: results / no-op GET, votes / no-op POST | "
            f"{ratio(read, summary['no-op GET under voting'][side]['rate']):.1%}, "
            f"{ratio(vote, summary['no-op POST'][side]['rate']):.1%} | | |"
        )
    if any(key[0] == OPEN_LOOP for key in runs):
        cells = {side: _open_loop_cell(runs[(OPEN_LOOP, side)]) for side in ("before", "after")}
        summary[OPEN_LOOP] = cells
        b, a = cells["before"], cells["after"]
        lines.append(
            f"| {OPEN_LOOP} at {b['rate']:.0f}/s | {_latencies(b)} | {_latencies(a)}"
            f" | p99 {ratio(a['p99'], b['p99']):.2f}x |"
        )
    errors = {k: v[s]["errors"] for k, v in summary.items() for s in v if v[s]["errors"]}
    lines += ["", f"Errors: {errors or 'none'}.", "", json.dumps(summary, indent=1)]
    return "\n".join(lines)


def _open_loop_cell(rounds):
    """One side's open-loop reads: the offered rate, percentiles of the merged latencies,
    and the requests not answered 200."""
    merged = [ms for run in rounds for ms in run.latencies_ms]
    return {
        "rate": rounds[0].rate,
        **{f"p{p:g}": open_loop.percentile(merged, p) for p in (50, 99, 99.9)},
        "errors": sum(s["other"] + s["errors"] for s in (run.summary(200) for run in rounds)),
    }


def _latencies(cell):
    text = f"p50 {cell['p50']:.1f} ms, p99 {cell['p99']:.1f} ms"
    return text + (f", p99.9 {cell['p99.9']:.1f} ms" if "p99.9" in cell else "")


if __name__ == "__main__":
    sys.exit(main())
