"""Confidence intervals: the patient-clustered bootstrap, and Wilson's where a percentile bootstrap does not hold
(small counts, proportions at 0 or 1).

The bootstrap resamples whole patients, because a patient's films are not
independent observations; scoring several models on the same draws is what
makes their differences paired.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pandas as pd
from scipy.stats import norm


def wilson(successes: int, total: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for a proportion (Wilson 1927): sensible for small totals and at 0 or 1."""
    z = float(norm.ppf(1 - (1 - level) / 2))
    share = successes / total
    centre = (share + z * z / (2 * total)) / (1 + z * z / total)
    half = z / (1 + z * z / total) * math.sqrt(share * (1 - share) / total + z * z / (4 * total * total))
    return max(0.0, centre - half), min(1.0, centre + half)


def group_resamples(groups, resamples: int, seed: int) -> list[np.ndarray]:
    """Row positions of `resamples` draws of whole groups (patients) with replacement.

    Scoring several models on the same draws is what makes their difference a
    paired one.
    """
    rows_of = pd.Series(np.arange(len(groups))).groupby(np.asarray(groups)).apply(np.asarray).tolist()
    rng = np.random.default_rng(seed)
    return [np.concatenate([rows_of[i] for i in rng.integers(0, len(rows_of), len(rows_of))])
            for _ in range(resamples)]


def patient_bootstrap(patients, compute: Callable[[np.ndarray], dict], resamples: int, seed: int,
                      level: float = 0.95) -> dict:
    """Percentile intervals of each numeric metric over resamples of patients (with replacement).

    `compute` takes row positions and returns a flat dict of metrics; a
    resample in which a metric is undefined (one class only) is skipped for it.
    """
    draws: dict[str, list[float]] = {}
    for rows in group_resamples(patients, resamples, seed):
        for key, value in compute(rows).items():
            if isinstance(value, float):
                draws.setdefault(key, []).append(value)
    tail = (1 - level) / 2 * 100
    return {key: [float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))]
            for key, values in draws.items()}
