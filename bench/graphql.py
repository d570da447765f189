"""Figure 8: GraphQL beside REST, under voting (bench/http_figures.py's figure 3 setup).

Three reads, alternating in rounds so a drift of the shared machine hits them all, each
at full speed while paced votes land on a poll of its own, the one it reads (every vote
changes the results read: the cache's worst case), each with the same votes preloaded:
- REST: GET /api/v1/polls/{id}/results, the document as served;
- GraphQL results: POST /api/graphql, `results(pollId) { ...every field }`, its twin;
- GraphQL poll page: the newest 20 polls with options, results and myVote.
All anonymous, as figure 3's reads. The goal: the GraphQL results query at 70 % of the
REST read's rate or more (issue 30).
"""

import json

from bench import audit
from bench.fixtures import write_wrk_data
from bench.http_figures import load_line, read_under_voting, summary
from bench.stats import ratio

GOAL = 0.70
RESULTS_QUERY = (
    "query Results($id: ID!) { results(pollId: $id) { pollId status totalVotes version "
    "asOf ballotKind options { id label votes share } rounds { round } winner } }"
)
POLL_PAGE = (
    "query PollPage { polls(pageSize: 20) { totalCount items { id title status ballotKind "
    "maxChoices options { id label } results { totalVotes version options { id votes share } }"
    " myVote { receipt } } } }"
)


def figure(stack, base, tokens, polls, *, preloaded, cfg, say):
    """Rounds of (REST results, GraphQL results, GraphQL poll page) under voting, each on
    its own of `polls` (three, `preloaded` votes in each already, the newest polls: on
    the page); their summaries and the ratio to REST."""
    rest_poll, graphql_poll, page_poll = polls
    bodies = {}
    for name, query, variables in (
        ("results", RESULTS_QUERY, {"id": str(graphql_poll.id)}),
        ("page", POLL_PAGE, {}),
    ):
        bodies[name] = stack.tmp / f"graphql-{name}.json"
        bodies[name].write_text(json.dumps({"query": query, "variables": variables}))
    reads = (
        ("REST results", f"/api/v1/polls/{rest_poll.id}/results", "", rest_poll),
        ("GraphQL results", "/api/graphql", bodies["results"], graphql_poll),
        ("GraphQL poll page", "/api/graphql", bodies["page"], page_poll),
    )
    rounds = {label: [] for label, _, _, _ in reads}
    for r in range(cfg.rounds):
        for label, path, body, poll in reads:
            data = write_wrk_data(
                stack.tmp / f"bg-graphql-{label.replace(' ', '-')}-{r}.txt",
                tokens[r :: cfg.rounds],
                [poll],
            )
            load, bg = read_under_voting(
                base, path, base, "", data, label=f"{label} #{r + 1}", cfg=cfg, body=body
            )
            say(load_line(load))
            say(load_line(bg))
            rounds[label].append((load, bg))
    out = {
        label: {
            "reads": summary([load for load, _ in pairs]),
            "votes": summary([bg for _, bg in pairs]),
            "runs": [x.as_dict() for pair in pairs for x in pair],
        }
        for label, pairs in rounds.items()
    }
    created = sum(bg.expected for pairs in rounds.values() for _, bg in pairs)
    unanswered = sum(bg.unanswered for pairs in rounds.values() for _, bg in pairs)
    rest, results = out["REST results"]["reads"], out["GraphQL results"]["reads"]
    return {
        "runs": out,
        "rest_rate": rest["rate"],
        "rest_p99_ms": rest["p99_ms"],
        "results_rate": results["rate"],
        "results_p99_ms": results["p99_ms"],
        "page_rate": out["GraphQL poll page"]["reads"]["rate"],
        "page_p99_ms": out["GraphQL poll page"]["reads"]["p99_ms"],
        "vs_rest": ratio(results["rate"], rest["rate"]),
        "audit": audit.phase(
            stack,
            "results: GraphQL",
            [p.id for p in polls],
            created=created,
            preloaded=preloaded * len(polls),
            unanswered=unanswered,
        ),
    }


def rows(run, ms):
    """The goals table's rows of figure 8 (none for a run from before it)."""
    found = run.get("graphql")
    if found is None:
        return []
    vs_rest = found["vs_rest"]
    return [
        (
            "8 GraphQL results query / REST results, under voting",
            f"{found['results_rate']:.0f} / {found['rest_rate']:.0f} per s = "
            + ("n/a" if vs_rest is None else f"{vs_rest:.0%}")
            + f" (p99 {ms(found['results_p99_ms'])} / {ms(found['rest_p99_ms'])})",
            f">= {GOAL:.0%}",
            vs_rest is not None and vs_rest >= GOAL,
        ),
        (
            "8 GraphQL poll page (20 polls, options, results), under voting",
            f"{found['page_rate']:.0f} per s, p99 {ms(found['page_p99_ms'])}",
            "measured",
            True,
        ),
    ]
