"""Figures 2 and 3: votes and results over HTTP, each against its no-op twin.

The no-op endpoints (bench/endpoints.py, routed with BENCH_ENDPOINTS=1) run on the
same server with the same framework work (a vote's authentication and JSON body; a
results read's anonymity), so a ratio says what the vote or the read itself costs.
"""

import time

from bench import audit, http_load
from bench.fixtures import write_wrk_data
from bench.stats import mean, ratio

NOOP_GET = "/api/v1/bench/noop-results"


def _line(load):
    warning = "  RAN OUT OF (poll, voter) PAIRS: add voters" if load.exhausted else ""
    return (
        f"  {load.label:<22} {load.ok_rate:7.1f}/s  p50 {load.p50_ms:6.1f} ms"
        f"  p99 {load.p99_ms:6.1f} ms  statuses {load.statuses}  errors {load.errors}{warning}"
    )


def warm_up(stack, base, tokens, poll, *, say):
    """A few seconds of every request kind at once, so imports, caches and the first
    connections are paid before anything is measured. Its votes are audited too."""
    data = write_wrk_data(stack.tmp / "warmup.txt", tokens, [poll])
    kinds = [
        ("noop-vote", ""),
        ("vote", ""),
        ("get", NOOP_GET),
        ("get", f"/api/v1/polls/{poll.id}/results"),
    ]
    handles = [
        http_load.start(
            base,
            label=f"warm-up {mode}",
            mode=mode,
            data=data,
            window=3,
            threads=1,
            connections=4,
            path=path,
        )
        for mode, path in kinds
    ]
    loads = [http_load.finish(h) for h in handles]
    say("  warm-up done")
    return audit.phase(stack, "warm-up", [poll.id], created=loads[1].expected)


def votes(stack, base, tokens, polls, *, cfg, say):
    """Figure 2: rounds of (no-op POST, real vote), alternating so drifts hit both.
    Each round votes in its own polls: a (poll, voter) pair is never sent twice."""
    per_round = len(polls) // cfg.rounds
    loads = {"noop": [], "vote": []}
    for r in range(cfg.rounds):
        data = write_wrk_data(
            stack.tmp / f"votes-{r}.txt", tokens, polls[r * per_round : (r + 1) * per_round]
        )
        for key, mode in (("noop", "noop-vote"), ("vote", "vote")):
            load = http_load.run(
                base,
                label=f"{mode} #{r + 1}",
                mode=mode,
                data=data,
                window=cfg.window,
                threads=cfg.threads,
                connections=cfg.connections,
            )
            loads[key].append(load)
            say(_line(load))
    created = sum(load.expected for load in loads["vote"])
    return {
        "vote": _summary(loads["vote"]),
        "noop": _summary(loads["noop"]),
        "ratio": ratio(
            mean([x.ok_rate for x in loads["vote"]]), mean([x.ok_rate for x in loads["noop"]])
        ),
        "runs": [x.as_dict() for x in loads["vote"] + loads["noop"]],
        "audit": audit.phase(stack, "HTTP votes", [p.id for p in polls], created=created),
    }


def _summary(loads):
    """Means over the rounds; errors summed."""
    return {
        "rate": mean([x.ok_rate for x in loads]),
        "p50_ms": mean([x.p50_ms for x in loads]),
        "p99_ms": mean([x.p99_ms for x in loads]),
        "errors": sum(x.errors for x in loads),
        "ok": sum(x.expected for x in loads),
        "rounds": len(loads),
    }


def results(stack, base, tokens, reads, *, cfg, say):
    """Figure 3: reads at full speed while a paced background load votes.

    `reads` is [(label, path, poll voted on meanwhile, votes preloaded there, base of
    the reads or None for `base`)]. The results reads vote on the poll being read, so
    every vote invalidates its cached tally: the worst case for the cache. The no-op
    read gets the same background load on a poll of its own. Votes always go to `base`.
    cfg.rounds rounds, each running every read in turn, so a drift of the shared machine
    hits them all (one 8 s round each gave a 1M / 1k p99 ratio anywhere from 0.67 to
    1.31 with the read's code unchanged). Each round votes with its own share of the
    voters: a (poll, voter) pair is never sent twice.
    """
    rounds = {label: [] for label, *_ in reads}  # (reads, background votes) per round
    for r in range(cfg.rounds):
        voters = tokens[r :: cfg.rounds]
        for label, path, voted, _, read_base in reads:
            data = write_wrk_data(stack.tmp / f"bg-{label}-{r}.txt", voters, [voted])
            load, bg = _read_under_voting(
                read_base or base, path, base, data, label=f"{label} #{r + 1}", cfg=cfg
            )
            say(_line(load))
            say(_line(bg))
            rounds[label].append((load, bg))
    out, audits = {}, []
    for label, _, voted, preloaded, _ in reads:
        out[label] = {
            "reads": _summary([load for load, _ in rounds[label]]),
            "runs": [x.as_dict() for pair in rounds[label] for x in pair],
        }
        created = sum(bg.expected for _, bg in rounds[label])
        phase = f"results: {label}"
        audits.append(audit.phase(stack, phase, [voted.id], created=created, preloaded=preloaded))
    return out, audits


def _read_under_voting(read_base, path, vote_base, data, *, label, cfg):
    """One run of figure 3: GETs of `path` at full speed while paced votes (from the
    wrk data file `data`) go to `vote_base`; returns (reads, background votes)."""
    background = http_load.start(
        vote_base,
        label=f"{label} background votes",
        mode="vote",
        data=data,
        window=cfg.window + 2,
        threads=1,
        connections=cfg.bg_connections,
        pace_ms=cfg.bg_pace_ms,
    )
    time.sleep(1)  # the background load is running before the reads start
    load = http_load.run(
        read_base,
        label=label,
        mode="get",
        window=cfg.window,
        threads=cfg.threads,
        connections=cfg.connections,
        path=path,
    )
    return load, http_load.finish(background)
