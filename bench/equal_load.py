"""Figure 9: latency at equal offered load, ours against the reference app.

The same constant rates for both (bench/open_loop.py: an open loop, each request timed
from when it was due): 50 % and 80 % of what the reference app answered in the closed
loop (figures 2 and 3), for the results read (a poll with 1,000 votes, anonymous) and
for the vote (distinct voter and poll pairs, as in figure 2). Rounds alternate targets
and rates so a drift of the shared machine hits them all; each figure's p50, p99 and
p99.9 come from the latencies of all its rounds merged.

Who goes first in each pair alternates from round to round, over an even number of
rounds: with a fixed order, ours' reads always ran first after the previous phase and
right after the reference's votes, which at 80 % can saturate it (a p50 of 404 ms in
one round at bb2a446), and took what those left behind on the shared cores. In that
run, ours' first read at 50 % had a p50 of 6.3 ms against 3.5 in its later rounds, and
that one round set the merged p99. (A round slower than the rest on both sides is the
shared host: in a run of `bench --tails` sampled every second, nothing of ours ran in
its slow first round but the servers measured, nginx and the load generator.)
"""

import itertools

from bench import open_loop
from bench.reference import harness as reference_harness

SHARES = (0.5, 0.8)
KINDS = ("results", "votes")
WHO = ("ours", "reference")


def _votes(host, tokens, polls, path):
    """Request bytes for distinct (voter, poll) pairs, voter-major, as figure 2's."""
    for poll in polls:
        for i, token in enumerate(tokens):
            body = f'{{"option_id":{poll.options[i % len(poll.options)]}}}'
            yield open_loop.request_bytes(
                "POST", path.format(poll=poll.id), host=host, token=token, body=body
            )


def figure(
    base,
    tokens,
    our_polls,
    read_poll,
    reference,
    ref_polls,
    ref_read_poll,
    *,
    capacity,
    rounds,
    seconds,
    say,
):
    """`capacity`: the reference app's closed-loop rates, {"results": r/s, "votes": r/s}."""
    host = base.removeprefix("http://")
    ref_host = reference.base.removeprefix("http://")
    targets = {
        ("results", "ours"): (base, itertools.repeat(open_loop.request_bytes(
            "GET", f"/api/v1/polls/{read_poll.id}/results", host=host))),
        ("results", "reference"): (reference.base, itertools.repeat(open_loop.request_bytes(
            "GET", reference.results_path(ref_read_poll), host=ref_host))),
        ("votes", "ours"): (base, _votes(host, tokens, our_polls, "/api/v1/polls/{poll}/votes")),
        ("votes", "reference"): (
            reference.base,
            _votes(ref_host, reference.tokens, ref_polls, reference_harness.VOTE_PATH),
        ),
    }  # fmt: skip
    expected = {"results": 200, "votes": 201}
    runs = {}
    for r in range(rounds):
        whos = WHO if r % 2 == 0 else WHO[::-1]
        for share in SHARES:
            for kind, who in itertools.product(KINDS, whos):
                target, requests = targets[(kind, who)]
                rate = capacity[kind] * share
                run = open_loop.run(
                    target,
                    requests,
                    label=f"{kind} {who} {share:.0%} #{r + 1}",
                    rate=rate,
                    seconds=seconds,
                )
                runs.setdefault((kind, share, who), []).append(run)
                p50, p99 = (open_loop.percentile(run.latencies_ms, p) for p in (50, 99))
                say(
                    f"  {run.label:28} {rate:6.0f}/s offered: p50 {p50:6.1f} p99 {p99:6.1f} "
                    f"ms, {run.summary(expected[kind])['other']} other, {run.errors} errors"
                )
    rows = []
    for (kind, share, who), kind_runs in runs.items():
        merged = [ms for run in kind_runs for ms in run.latencies_ms]
        summaries = [run.summary(expected[kind]) for run in kind_runs]
        rows.append(
            {
                "kind": kind,
                "share": share,
                "who": who,
                "rate": capacity[kind] * share,
                "p50_ms": open_loop.percentile(merged, 50),
                "p99_ms": open_loop.percentile(merged, 99),
                "p999_ms": open_loop.percentile(merged, 99.9),
                # in the order the rounds ran: one bad round shows here, not only in p99
                "round_p99_ms": [open_loop.percentile(run.latencies_ms, 99) for run in kind_runs],
                "answers": len(merged),
                "ok": sum(s["ok"] for s in summaries),
                "unanswered": sum(s["errors"] for s in summaries),
                "not_ok": sum(s["other"] + s["errors"] for s in summaries),
                "late_ms": max(s["late_ms"] for s in summaries),
            }
        )
    return {"capacity": capacity, "rounds": rounds, "seconds": seconds, "rows": rows}


def p99_ratio(result, kind, share):
    """Ours' p99 over the reference's, at one offered load."""
    row = {(r["kind"], r["share"], r["who"]): r for r in result["rows"]}
    ours, ref = row[(kind, share, "ours")], row[(kind, share, "reference")]
    return ours["p99_ms"] / ref["p99_ms"] if ref["p99_ms"] else None
