"""Figure 3's tail under other serving layouts: the closed-loop results read, under the
same paced voting, on the shipped web tier and on tiers whose API workers run fewer
threads, in alternating rounds.

Why it is measured: the closed-loop goal (results p99 at most 3x its p50) is missed by
the no-op GET too, and the tail comes from how a worker's threads take turns at the GIL
(docs/serving.md, "The closed-loop tail"). One thread per worker has no turns to take
(reads alone then meet the ratio), but under voting a vote holds the only thread through
its commit and its lease wait, and the rate halves. This figure puts the trade in
numbers on every run.
"""

from dataclasses import dataclass

from bench import audit, fixtures, http_figures, preload
from bench.stats import merged_percentile, ratio
from devstack.web import WebSizing


@dataclass(frozen=True)
class Layout:
    label: str
    threads: int  # per API worker (granian's blocking threads); the workers stay as shipped
    shipped: bool = False


LAYOUTS = [
    Layout(
        f"{WebSizing.api_workers} x {WebSizing.api_threads} (shipped)", WebSizing.api_threads, True
    ),
    Layout(f"{WebSizing.api_workers} x 2", 2),
    Layout(f"{WebSizing.api_workers} x 1", 1),
]


def figure(stack, shipped_base, tokens, *, rounds, cfg, say):
    """The shipped tier at `shipped_base` and one tier per other layout, started here and
    stopped after; `rounds` rounds, each running every layout in turn (the order reversed
    every other round). Returns {"rows": [...], "rounds": n}; appends its audits."""
    bases, started, audits = {}, [], []
    for layout in LAYOUTS:
        if layout.shipped:
            bases[layout.label] = shipped_base
            continue
        web, children = stack.start_web(
            f"layout-{layout.threads}", env={"WEB_THREADS": str(layout.threads)}
        )
        started += children
        warm = fixtures.create_polls(1, title=f"Warm-up {layout.label}")[0]
        audits.append(http_figures.warm_up(stack, web.url, tokens, warm, say=say))
        bases[layout.label] = web.url
    loads = {layout.label: ([], [], []) for layout in LAYOUTS}  # reads, votes, polls
    try:
        for r in range(rounds):
            order = LAYOUTS if r % 2 == 0 else LAYOUTS[::-1]
            for layout in order:
                reads, votes, polls = loads[layout.label]
                poll = fixtures.create_polls(1, title=f"Layout {layout.label} #{r + 1}")[0]
                preload.through_triggers(stack, poll, cfg.small_preload)
                data = fixtures.write_wrk_data(
                    stack.tmp / f"layout-{layout.threads}-{r}.txt", tokens, [poll]
                )
                base = bases[layout.label]
                read, voted = http_figures.read_under_voting(
                    base,
                    f"/api/v1/polls/{poll.id}/results",
                    base,
                    "",
                    data,
                    label=f"{layout.label} #{r + 1}",
                    cfg=cfg,
                )
                say(http_figures.load_line(read))
                say(http_figures.load_line(voted))
                reads.append(read)
                votes.append(voted)
                polls.append(poll)
    finally:
        for child in started:
            stack.stop_child(child)
    rows = []
    for layout in LAYOUTS:
        reads, votes, polls = loads[layout.label]
        read, voted = http_figures.summary(reads), http_figures.summary(votes)
        rows.append(
            {
                "layout": layout.label,
                "threads": layout.threads,
                "shipped": layout.shipped,
                "rate": read["rate"],
                "p50_ms": read["p50_ms"],
                "p99_ms": read["p99_ms"],
                "p999_ms": merged_percentile(reads, 99.9),
                "p99_over_p50": ratio(read["p99_ms"], read["p50_ms"]),
                "votes_rate": voted["rate"],
                "votes_p99_ms": voted["p99_ms"],
            }
        )
        audits.append(
            audit.phase(
                stack,
                f"layouts: {layout.label}",
                [p.id for p in polls],
                created=sum(x.expected for x in votes),
                preloaded=cfg.small_preload * len(polls),
                unanswered=sum(x.unanswered for x in votes),
            )
        )
    return {"rows": rows, "rounds": rounds}, audits
