"""Intervals that hold where a percentile bootstrap does not: small counts, and proportions at 0 or 1."""

from __future__ import annotations

import math

from scipy.stats import norm


def wilson(successes: int, total: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for a proportion (Wilson 1927): sensible for small totals and at 0 or 1."""
    z = float(norm.ppf(1 - (1 - level) / 2))
    share = successes / total
    centre = (share + z * z / (2 * total)) / (1 + z * z / total)
    half = z / (1 + z * z / total) * math.sqrt(share * (1 - share) / total + z * z / (4 * total * total))
    return max(0.0, centre - half), min(1.0, centre + half)
