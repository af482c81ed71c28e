"""Small statistics over measured values: percentiles, medians, fairness."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(ordered: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    if not ordered:
        raise ValueError("no values")
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def jain_index(rates: Sequence[float]) -> float | None:
    """Jain's fairness index (sum x)^2 / (n * sum x^2): 1 when every stream got the
    same rate, 1/n when one stream got everything. None without rates."""
    if not rates:
        return None
    squares = sum(r * r for r in rates)
    if squares == 0:
        return None
    return sum(rates) ** 2 / (len(rates) * squares)
