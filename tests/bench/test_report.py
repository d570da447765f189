"""bench.report: RESULTS.md from a run, with figure 3b (the tail by serving layout) and
without it (as the runs kept in results.json from before it existed)."""

import copy
import json

import pytest

from bench import report

LAYOUTS = {
    "rounds": 2,
    "rows": [
        {
            "layout": "2 x 4 (shipped)",
            "threads": 4,
            "shipped": True,
            "rate": 1670.0,
            "p50_ms": 8.0,
            "p99_ms": 37.2,
            "p999_ms": 59.0,
            "p99_over_p50": 4.65,
            "votes_rate": 63.0,
            "votes_p99_ms": 82.4,
        },
        {
            "layout": "2 x 1",
            "threads": 1,
            "shipped": False,
            "rate": 808.0,
            "p50_ms": 12.6,
            "p99_ms": 75.7,
            "p999_ms": 92.8,
            "p99_over_p50": 6.0,
            "votes_rate": 59.0,
            "votes_p99_ms": 93.2,
        },
    ],
}


@pytest.fixture
def kept_run():
    """The newest run results.json keeps, as `make bench` wrote it, less figure 3b."""
    runs = json.loads(report.RESULTS_JSON.read_text())["runs"]
    run = copy.deepcopy(runs[0])
    run.pop("tail_layouts", None)
    return run


def test_a_run_with_figure_3b_shows_each_layout_and_the_no_op_floor(kept_run):
    run = {**kept_run, "tail_layouts": LAYOUTS}
    run["goals"] = report.goals(run)

    text = report.markdown(run, None)

    assert "## 3b. The results read's tail by serving layout" in text
    assert "| 2 x 1 | 808 | 12.6 | 75.7 | 92.8 | 6.0x | 59 | 93.2 |" in text
    by_figure = {g["figure"]: g for g in run["goals"]}
    layouts = by_figure["3 results tail by threads per API worker: p99 / p50 at reads/s"]
    assert layouts["measured"] == (
        "2 x 4 (shipped) 4.7x at 1670/s (votes 63/s); 2 x 1 6.0x at 808/s (votes 59/s)"
    )
    tail = by_figure["3 results tail, closed loop: p99 / p50, and p99 / the reference's"]
    assert "the no-op GET's under the same voting" in tail["measured"]


def test_a_run_from_before_figure_3b_still_renders_without_it(kept_run):
    kept_run["goals"] = report.goals(kept_run)

    text = report.markdown(kept_run, kept_run)

    assert "## 3. HTTP results under voting" in text
    assert "3b." not in text
    assert not any(g["figure"].startswith("3 results tail by threads") for g in kept_run["goals"])


def test_figure_9_shows_each_rounds_p99_and_older_runs_without_them_say_so(kept_run):
    equal = copy.deepcopy(kept_run["equal_load"])
    rows = equal["rows"]
    rows[0]["round_p99_ms"] = [36.8, 7.7, 8.3, 9.1]
    for row in rows[1:]:
        row.pop("round_p99_ms", None)
    run = {**kept_run, "equal_load": equal}
    run["goals"] = report.goals(run)

    lines = report.markdown(run, None).splitlines()

    with_rounds = [ln for ln in lines if "| 36.8, 7.7, 8.3, 9.1 |" in ln]
    assert len(with_rounds) == 1 and with_rounds[0].startswith(f"| {rows[0]['kind']} |")
    start = lines.index("## 9. Latency at equal offered load (open loop)") + 6  # header rows
    body = lines[start : lines.index("", start)]
    assert len(body) == len(rows) and sum("| n/a |" in ln for ln in body) == len(rows) - 1
