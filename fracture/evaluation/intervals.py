"""Confidence intervals over resamples of patient groups, and Wilson's for a proportion the bootstrap cannot hold.

The bootstrap resamples whole patients, because a patient's films are not
independent observations: scipy's `bootstrap` draws the groups, and each
draw's metric is computed on the rows of the groups drawn. A metric on 0..1
(an AUC, a sensitivity) gets the Wald interval on the logit scale from the
draws' standard error; others (a difference, kappa) get BCa. At a FracAtlas
test split's size (92 groups, some 40 fractured films) an AUC's percentile
interval covered 0.927 of the time at nominal 0.95, BCa's 0.932 and the logit
interval 0.933 (`studies/interval_coverage.py`, 1,400 data sets; the suite's
tests/evaluation/test_coverage.py keeps it above 0.90). A proportion of 0 or
1 has resamples that cannot vary, and one over fewer than MIN_COUNT images has
too few to resample: both get Wilson's score interval, which holds there,
though it cannot see the groups.
"""

from __future__ import annotations

import math
import warnings
from typing import Callable

import numpy as np
import pandas as pd
from scipy.stats import bootstrap, norm
from scipy.stats import t as student_t

MIN_COUNT = 10  # a proportion over fewer images gets Wilson's interval
LOGIT, BCA, PERCENTILE, WILSON = "logit", "bca", "percentile", "wilson"


def wilson(successes: int, total: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for a proportion (Wilson 1927): sensible for small totals and at 0 or 1."""
    z = _z(level)
    share = successes / total
    centre = (share + z * z / (2 * total)) / (1 + z * z / total)
    half = z / (1 + z * z / total) * math.sqrt(share * (1 - share) / total + z * z / (4 * total * total))
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    return (0.0 if successes == 0 else low), (1.0 if successes == total else high)  # exact ends, not 1 - 1e-16


def needs_wilson(successes: int, total: int) -> bool:
    """Whether a proportion's bootstrap would be degenerate: too few images, or every resample 0 or 1."""
    return total < MIN_COUNT or successes in (0, total)


def rows_of_groups(groups) -> list[np.ndarray]:
    """Row positions of each group, in the order of the groups' first sort."""
    return pd.Series(np.arange(len(groups))).groupby(np.asarray(groups)).apply(np.asarray).tolist()


def group_resamples(groups, resamples: int, seed: int) -> list[np.ndarray]:
    """Row positions of `resamples` draws of whole groups (patients) with replacement."""
    rows_of = rows_of_groups(groups)
    rng = np.random.default_rng(seed)
    return [np.concatenate([rows_of[i] for i in rng.integers(0, len(rows_of), len(rows_of))])
            for _ in range(resamples)]


def _number(value) -> float:
    """A metric as a float; a count, a label or an undefined metric as NaN (no interval)."""
    return float(value) if isinstance(value, float) else math.nan


def _interval(estimate: float, draws: np.ndarray, bca: tuple[float, float], level: float, bounded: bool) -> dict:
    """For a metric on 0..1 strictly inside it, the Wald interval on the logit scale from the bootstrap standard
    error; for any other (a difference, kappa), BCa, or the percentile interval of the defined draws where BCa is
    undefined (a draw or a jackknife without both classes); no interval where every draw agrees."""
    finite = draws[np.isfinite(draws)]
    if not len(finite) or np.ptp(finite) <= 1e-12:  # alike but for rounding
        return {"low": None, "high": None, "method": None, "se": None}
    se = float(np.std(finite, ddof=1))
    if bounded and 0 < estimate < 1:
        centre, half = math.log(estimate / (1 - estimate)), _z(level) * se / (estimate * (1 - estimate))
        return {"low": _expit(centre - half), "high": _expit(centre + half), "method": LOGIT, "se": se}
    if all(math.isfinite(end) for end in bca) and len(finite) == len(draws):
        return {"low": float(bca[0]), "high": float(bca[1]), "method": BCA, "se": se}
    tail = (1 - level) / 2 * 100
    return {"low": float(np.percentile(finite, tail)), "high": float(np.percentile(finite, 100 - tail)),
            "method": PERCENTILE, "se": se}


def _z(level: float) -> float:
    return float(norm.ppf(1 - (1 - level) / 2))


def _expit(value: float) -> float:
    return 1 / (1 + math.exp(-value))


def _wilson(count: tuple[int, int], level: float) -> dict:
    low, high = wilson(*count, level)
    return {"low": low, "high": high, "method": WILSON, "se": None}


def patient_bootstrap(patients, compute: Callable[[np.ndarray], dict], resamples: int, seed: int,
                      level: float = 0.95, counts: dict[str, tuple[int, int]] | None = None,
                      unbounded: tuple[str, ...] = ()) -> dict[str, dict]:
    """An interval for each numeric metric `compute` returns, over resamples of whole patient groups.

    `compute` takes row positions and returns a flat dict of metrics (one it
    cannot define on a resample, with one class only, it may leave out).
    `counts` names the metrics that are proportions, with their successes and
    total: those get Wilson's interval where `needs_wilson`. A metric whose
    every draw lies on 0..1 gets the logit interval unless it is named in
    `unbounded` (a difference that happens to stay positive). Each interval is
    {low, high, method, se}: method `logit`, `bca`, `percentile` or `wilson`,
    se the bootstrap standard error (None for Wilson's).
    """
    counts = counts or {}
    observed = {key: value for key, value in compute(np.arange(len(patients))).items()
                if not math.isnan(_number(value))}
    small = [key for key in observed if key in counts and needs_wilson(*counts[key])]
    intervals = {key: _wilson(counts[key], level) for key in small}
    keys = [key for key in observed if key not in small]
    rows_of = rows_of_groups(patients)
    if not keys or not resamples or len(rows_of) < 2:
        return intervals

    def statistic(chosen: np.ndarray) -> np.ndarray:
        values = compute(np.concatenate([rows_of[int(index)] for index in chosen]))
        return np.array([_number(values.get(key)) for key in keys])

    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore")  # a degenerate BCa comes back as NaN and falls back below
        result = bootstrap((np.arange(len(rows_of)),), statistic, n_resamples=resamples, vectorized=False,
                           method="BCa", confidence_level=level, rng=np.random.default_rng(seed))
    draws = np.atleast_2d(result.bootstrap_distribution)
    ends = zip(np.atleast_1d(result.confidence_interval.low), np.atleast_1d(result.confidence_interval.high))
    for key, row, bca in zip(keys, draws, ends):
        bounded = key not in unbounded and bool(np.all((row[np.isfinite(row)] >= 0) & (row[np.isfinite(row)] <= 1)))
        found = _interval(_number(observed[key]), row, bca, level, bounded)
        if found["method"] is None and key in counts:  # resamples that cannot vary: Wilson holds there
            found = _wilson(counts[key], level)
        if found["method"] is not None:
            intervals[key] = found
    return intervals


def wald_p_value(estimate: float, se: float | None, df: float = math.inf) -> float:
    """Two-sided p of 'no difference' from a bootstrap standard error, on Student's t with `df` degrees of freedom
    (normal by default): continuous, so it can pass Holm over a family that a p counted from 1,000 draws (never
    below 0.002) could not."""
    if se is None or not se > 0:  # every draw alike: no difference at all, or one the data cannot test
        return 1.0 if estimate == 0 else math.nan
    return float(2 * student_t.sf(abs(estimate) / se, df))
