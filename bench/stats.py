"""Medians, spreads and percentiles for benchmark rounds."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(rounds: Sequence[float]) -> dict[str, float]:
    """Median over rounds and the spread (min, max) a reader needs to trust it."""
    return {
        "median": statistics.median(rounds),
        "min": min(rounds),
        "max": max(rounds),
        "rounds": len(rounds),
    }
