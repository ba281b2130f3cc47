"""Paired tests of two models scored on the same test images.

Two models tested on one set are correlated: an image that is hard for one is
usually hard for both. Comparing their separate intervals ignores that, so the
difference is bootstrapped directly, resampling patient groups once per draw
and scoring every model on the same draw; its interval and p-value come from
the bootstrap standard error on Student's t, which is continuous (a p counted
from 1,000 draws is never below 0.002, so it could never pass Holm in a family
of 39 tests). Sensitivity and specificity at the frozen thresholds are compared
with Durkalski et al.'s clustered McNemar test (Stat Med 2003;22:1227-37),
whose variance is taken over patient groups, since one patient's films are not
independent (an image-level McNemar test rejects too often under such
clustering). p-values across the whole family of comparisons are
Holm-adjusted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm
from scipy.stats import t as student_t
from statsmodels.stats.multitest import multipletests

from fracture.evaluation.intervals import patient_bootstrap, wald_p_value
from fracture.evaluation.metrics import roc_auc


@dataclass(frozen=True)
class PairedDifference:
    """Score of `other` minus score of the reference, with its interval and two-sided p-value."""

    difference: float
    low: float
    high: float
    p_value: float
    se: float  # the bootstrap standard error of the difference
    df: float  # of the t reference: the groups holding a fractured film, less one


def paired_auc_differences(labels, scores: dict[str, np.ndarray], reference: str, groups, resamples: int,
                           seed: int, level: float = 0.95) -> dict[str, PairedDifference]:
    """ROC-AUC of each model minus the reference's, every model scored on the same resampled groups.

    The interval is difference +- t * se and p is the t test's, on the groups
    holding a fractured film less one: an AUC's uncertainty rests on its few
    positive cases. On 1,400 data sets the size of a FracAtlas test split with
    no true difference, a normal reference rejected 5.9% of the time at nominal
    5%, this one 4.6% (studies/interval_coverage.py).
    """
    labels, groups = np.asarray(labels), np.asarray(groups)

    def differences(rows: np.ndarray) -> dict[str, float]:
        theirs = roc_auc(labels[rows], scores[reference][rows])
        mine = {name: roc_auc(labels[rows], values[rows]) for name, values in scores.items() if name != reference}
        return {name: value - theirs for name, value in mine.items() if value is not None and theirs is not None}

    observed = differences(np.arange(len(labels)))
    intervals = patient_bootstrap(groups, differences, resamples, seed, level, unbounded=tuple(observed))
    df = max(1, len(set(groups[labels == 1])) - 1)
    half_width = float(student_t.ppf(1 - (1 - level) / 2, df))
    found = {}
    for name, value in observed.items():
        se = intervals.get(name, {}).get("se")
        low, high = (max(-1.0, value - half_width * se), min(1.0, value + half_width * se)) if se else (
            math.nan, math.nan)  # an AUC difference lies within -1..1
        found[name] = PairedDifference(value, low, high, wald_p_value(value, se, df), se or math.nan, df)
    return found


@dataclass(frozen=True)
class ClusteredDifference:
    """Share of images `other` gets right minus the reference's, on the same images, clustered by group."""

    difference: float
    low: float
    high: float
    p_value: float
    only_other: int  # images the other model gets right and the reference wrong
    only_reference: int
    groups: int


def clustered_mcnemar(reference_correct, other_correct, groups, level: float = 0.95) -> ClusteredDifference:
    """Durkalski et al.'s (2003) clustered McNemar test, with the Wald interval (kept within -1..1) of its variance.

    With d_k the images of group k that the other model gets right and the
    reference wrong, minus those the other way round, and N the images: the
    difference in shares is sum_k d_k / N, its variance under the null
    sum_k d_k^2 / N^2, and (sum_k d_k)^2 / sum_k d_k^2 is chi-square with one
    degree of freedom. With one image per group it is McNemar's test exactly.
    Under a clustered null it held its size with few groups (0.044 at 15
    groups, 0.049 at 25, 4,000 data sets each), where Obuchowski's (1998)
    centred variance, used before, rejected 0.087 and 0.074 of the time
    (docs/studies/statistics.md; tests/comparison/test_paired.py keeps it).
    The interval inverts the same test, so it excludes zero exactly when p is
    below 1 - level.
    """
    reference = np.asarray(reference_correct, dtype=float)
    other = np.asarray(other_correct, dtype=float)
    only_other = int(np.sum((other == 1) & (reference == 0)))
    only_reference = int(np.sum((reference == 1) & (other == 0)))
    codes = pd.factorize(np.asarray(groups))[0]
    count, groups_n = len(reference), int(codes.max()) + 1 if len(codes) else 0
    if count == 0 or groups_n < 2:
        return ClusteredDifference(math.nan, math.nan, math.nan, math.nan, only_other, only_reference, groups_n)
    net = np.bincount(codes, weights=other - reference)
    difference = float(net.sum() / count)
    spread = float(np.sum(net ** 2))
    if spread == 0:  # no image differs
        return ClusteredDifference(0.0, 0.0, 0.0, 1.0, only_other, only_reference, groups_n)
    half = float(norm.ppf(1 - (1 - level) / 2)) * math.sqrt(spread) / count
    return ClusteredDifference(difference, max(-1.0, difference - half), min(1.0, difference + half),
                               float(chi2.sf(net.sum() ** 2 / spread, 1)), only_other, only_reference, groups_n)


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment: the family-wise error stays at the level across the comparisons.

    An undefined p-value (NaN: too few groups to test) is no member of the family and stays NaN.
    """
    defined = [index for index, value in enumerate(p_values) if not math.isnan(value)]
    adjusted = [math.nan] * len(p_values)
    if defined:
        for index, value in zip(defined, multipletests([p_values[i] for i in defined], method="holm")[1]):
            adjusted[index] = float(value)
    return adjusted
