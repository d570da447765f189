"""Figures 2 and 3: votes and results over HTTP, each against its no-op twin.

The no-op endpoints (bench/endpoints.py, routed with BENCH_ENDPOINTS=1) run on the
same server with the same framework work (a vote's authentication and JSON body; a
results read's anonymity), so a ratio says what the vote or the read itself costs.
"""

import time
from dataclasses import dataclass
from functools import partial

from bench import audit, http_load
from bench.fixtures import write_wrk_data
from bench.reference import harness as reference_harness
from bench.stats import mean, merged_percentile, ratio

NOOP_GET = "/api/v1/bench/noop-results"


def load_line(load):
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


def votes(stack, base, tokens, polls, *, kinds, reference, cfg, say):
    """Figure 2: rounds of (no-op POST, real vote, a multiple and a ranked ballot, the
    reference app's vote), alternating so drifts hit them all. Each round votes in its
    own polls (`kinds`: the multiple and ranked polls, {kind: polls}): a (poll, voter)
    pair is never sent twice."""
    per_round = len(polls) // cfg.rounds
    ref_polls_all = reference.polls[: cfg.vote_polls]  # the rest: figures 3 and 9
    ref_per_round = len(ref_polls_all) // cfg.rounds
    loads = {"noop": [], "vote": [], "multiple": [], "ranked": [], "reference": []}
    for r in range(cfg.rounds):
        mine = polls[r * per_round : (r + 1) * per_round]
        data = write_wrk_data(stack.tmp / f"votes-{r}.txt", tokens, mine)
        by_kind = {
            kind: write_wrk_data(
                stack.tmp / f"{kind}-votes-{r}.txt",
                tokens,
                kind_polls[r * per_round : (r + 1) * per_round],
            )
            for kind, kind_polls in kinds.items()
        }
        ref_polls = ref_polls_all[r * ref_per_round : (r + 1) * ref_per_round]
        ref_data = write_wrk_data(stack.tmp / f"ref-votes-{r}.txt", reference.tokens, ref_polls)
        runs = (
            ("noop", base, "noop-vote", data, ""),
            ("vote", base, "vote", data, ""),
            ("multiple", base, "vote-multiple", by_kind["multiple"], ""),
            ("ranked", base, "vote-ranked", by_kind["ranked"], ""),
            ("reference", reference.base, "vote", ref_data, reference_harness.VOTE_PATH),
        )
        for key, target, mode, wrk_data, path in runs:
            load = http_load.run(
                target,
                label=f"{key} #{r + 1}",
                mode=mode,
                data=wrk_data,
                path=path,
                window=cfg.window,
                threads=cfg.threads,
                connections=cfg.connections,
            )
            loads[key].append(load)
            say(load_line(load))
    created = sum(load.expected for key in ("vote", *kinds) for load in loads[key])
    unanswered = sum(load.unanswered for key in ("vote", *kinds) for load in loads[key])
    ref_created = sum(load.expected for load in loads["reference"])
    ref_unanswered = sum(load.unanswered for load in loads["reference"])
    summaries = {key: summary(runs) for key, runs in loads.items()}
    voted = [p.id for p in polls] + [p.id for kind_polls in kinds.values() for p in kind_polls]
    return {
        **summaries,
        "ratio": ratio(summaries["vote"]["rate"], summaries["noop"]["rate"]),
        "vs_reference": ratio(summaries["vote"]["rate"], summaries["reference"]["rate"]),
        # Multiple and ranked ballots against single ones, in the same rounds.
        "multiple_vs_single": ratio(summaries["multiple"]["rate"], summaries["vote"]["rate"]),
        "ranked_vs_single": ratio(summaries["ranked"]["rate"], summaries["vote"]["rate"]),
        "runs": [x.as_dict() for runs in loads.values() for x in runs],
        "audit": audit.phase(stack, "HTTP votes", voted, created=created, unanswered=unanswered),
        "reference_audit": reference_harness.audit(
            reference,
            "reference votes",
            [p.id for p in ref_polls_all],
            created=ref_created,
            unanswered=ref_unanswered,
        ),
    }


def summary(loads):
    """The rate: the mean over the rounds. p50 and p99: from the rounds' latencies merged
    into one distribution (one round's spike counts for its share of the answers).
    Errors summed."""
    return {
        "rate": mean([x.ok_rate for x in loads]),
        "p50_ms": merged_percentile(loads, 50),
        "p99_ms": merged_percentile(loads, 99),
        "errors": sum(x.errors for x in loads),
        "ok": sum(x.expected for x in loads),
        "rounds": len(loads),
    }


@dataclass
class Read:
    """One read of figure 3: GETs of `path` on `base` (None: the shipped web tier) while
    paced votes go to `voted` (its votes preloaded there) on `votes_to`, a (base, vote
    path, tokens, audit) of its own for the reference app."""

    label: str
    path: str
    voted: object  # PollFixture
    preloaded: int = 0
    base: str | None = None
    votes_to: tuple | None = None


def results(stack, base, tokens, reads, *, cfg, say):
    """Figure 3: reads at full speed while a paced background load votes.

    The results reads vote on the poll being read, so every vote changes the results
    being read: the worst case for the cache. The no-op read gets the same background
    load on a poll of its own, and the reference app's read on one of its own polls
    through its own vote endpoint. cfg.rounds rounds, each running every read in turn,
    so a drift of the shared machine hits them all (one 8 s round each gave a 1M / 1k
    p99 ratio anywhere from 0.67 to 1.31 with the read's code unchanged). Each round
    votes with its own share of the voters: a (poll, voter) pair is never sent twice.
    """
    rounds = {read.label: [] for read in reads}  # (reads, background votes) per round
    for r in range(cfg.rounds):
        for read in reads:
            vote_base, vote_path, voters, _ = read.votes_to or (base, "", tokens, None)
            data = write_wrk_data(
                stack.tmp / f"bg-{read.label}-{r}.txt", voters[r :: cfg.rounds], [read.voted]
            )
            load, bg = read_under_voting(
                read.base or base,
                read.path,
                vote_base,
                vote_path,
                data,
                label=f"{read.label} #{r + 1}",
                cfg=cfg,
            )
            say(load_line(load))
            say(load_line(bg))
            rounds[read.label].append((load, bg))
    out, audits = {}, []
    for read in reads:
        pairs = rounds[read.label]
        out[read.label] = {
            "reads": summary([load for load, _ in pairs]),
            "votes": summary([bg for _, bg in pairs]),
            "runs": [x.as_dict() for pair in pairs for x in pair],
        }
        created = sum(bg.expected for _, bg in pairs)
        unanswered = sum(bg.unanswered for _, bg in pairs)
        check = read.votes_to[3] if read.votes_to else partial(audit.phase, stack)
        phase = f"results: {read.label}"
        audits.append(
            check(
                phase,
                [read.voted.id],
                created=created,
                preloaded=read.preloaded,
                unanswered=unanswered,
            )
        )
    return out, audits


def read_under_voting(read_base, path, vote_base, vote_path, data, *, label, cfg, body=""):
    """One run of figure 3: GETs of `path` (POSTs of the file `body`, when given: a
    GraphQL query, bench/graphql.py) at full speed while paced votes (from the wrk data
    file `data`) go to `vote_base` (at `vote_path`, or the poll service's own); returns
    (reads, background votes)."""
    background = http_load.start(
        vote_base,
        label=f"{label} background votes",
        mode="vote",
        data=data,
        path=vote_path,
        window=cfg.window + 2,
        threads=1,
        connections=cfg.bg_connections,
        pace_ms=cfg.bg_pace_ms,
    )
    time.sleep(1)  # the background load is running before the reads start
    load = http_load.run(
        read_base,
        label=label,
        mode="post" if body else "get",
        window=cfg.window,
        threads=cfg.threads,
        connections=cfg.connections,
        path=path,
        body=body,
    )
    return load, http_load.finish(background)
