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
