"""bench.stats.merged_percentile: the percentile of several runs' latencies together, from
each run's quantile grid, as wrk's Lua script writes it (bench/lua/load.lua)."""

import random

from bench.http_load import Load
from bench.stats import merged_percentile, percentile


def grid():
    return [
        *range(1, 90),
        *(p / 10 for p in range(900, 990)),
        *(p / 100 for p in range(9900, 10000)),
    ]


def as_load(latencies_ms):
    """A run as http_load parses it: its quantile grid, its min and max."""
    return Load(
        label="run",
        rate=0,
        ok_rate=0,
        p50_ms=percentile(latencies_ms, 50),
        p90_ms=percentile(latencies_ms, 90),
        p99_ms=percentile(latencies_ms, 99),
        max_ms=max(latencies_ms),
        responses=len(latencies_ms),
        min_ms=min(latencies_ms),
        quantiles=[(p, percentile(latencies_ms, p)) for p in grid()],
    )


def test_it_finds_the_p99_of_the_runs_together_not_their_mean():
    rng = random.Random(7)
    quiet = [rng.uniform(5, 15) for _ in range(9000)]
    spiky = [rng.uniform(5, 15) for _ in range(900)] + [rng.uniform(200, 300) for _ in range(100)]
    together = quiet + spiky
    merged = merged_percentile([as_load(quiet), as_load(spiky)], 99)
    # The spike is 1 % of all answers: the merged p99 sits at its edge, while the mean of
    # the two rounds' p99 would say about 150 ms.
    assert abs(merged - percentile(together, 99)) < 5
    assert abs(merged_percentile([as_load(quiet), as_load(spiky)], 50) - 10) < 0.5


def test_it_weighs_each_run_by_its_answers():
    fast, slow = [1.0] * 9900, [100.0] * 100
    assert merged_percentile([as_load(fast), as_load(slow)], 98) < 2
    assert merged_percentile([as_load(fast), as_load(slow)], 99.5) > 99


def test_it_has_nothing_to_say_without_answers():
    assert merged_percentile([], 99) is None
