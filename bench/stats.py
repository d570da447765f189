"""Small statistics helpers (no numpy in the project)."""

import math


def percentile(values, p):
    """The p-th percentile by the nearest-rank method (what wrk and most tools report);
    None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def mean(values):
    return sum(values) / len(values) if values else None


def ratio(part, whole):
    return part / whole if part is not None and whole else None


def merged_percentile(loads, p):
    """The p-th percentile of the latencies of several runs taken together, each weighted
    by its responses: one round's spike then counts for what it is, not for a third of
    the figure. Each run's distribution is rebuilt from its quantile grid (bench/lua/
    load.lua: every 0.1 % from p90, every 0.01 % from p99), linear between the points;
    the merged CDF is inverted by bisection. None without runs that answered."""
    runs = [(x.responses, _cdf_points(x)) for x in loads if x.responses and x.quantiles]
    if not runs:
        return None
    total = sum(n for n, _ in runs)
    target = p / 100

    def cdf(ms):
        return sum(n * _interpolate(points, ms) for n, points in runs) / total

    low = min(points[0][1] for _, points in runs)
    high = max(points[-1][1] for _, points in runs)
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if cdf(middle) < target else (low, middle)
    return high


def _cdf_points(load):
    """[(fraction, ms)] from 0 (the fastest answer) to 1 (the slowest)."""
    points = [(0.0, load.min_ms)] + [(q / 100, ms) for q, ms in load.quantiles]
    return points + [(1.0, max(load.max_ms, points[-1][1]))]


def _interpolate(points, ms):
    """The fraction of answers no slower than `ms`."""
    if ms <= points[0][1]:
        return 0.0
    for (f0, v0), (f1, v1) in zip(points, points[1:], strict=False):
        if ms <= v1:
            return f1 if v1 == v0 else f0 + (f1 - f0) * (ms - v0) / (v1 - v0)
    return 1.0
