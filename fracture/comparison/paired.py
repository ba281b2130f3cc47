"""Paired tests of two models scored on the same test images.

Two models tested on one set are correlated: an image that is hard for one is
usually hard for both. Comparing their separate intervals ignores that, so the
difference is bootstrapped directly, resampling patient groups once per draw
and scoring every model on the same draw. Sensitivity and specificity at the
frozen thresholds are compared with Obuchowski's test for correlated
proportions in clustered data (Stat Med 1998;17:1495-1507): McNemar's test
with a variance taken over patient groups, since one patient's films are not
independent (an image-level McNemar test rejects too often under such
clustering). p-values across the whole family of comparisons are
Holm-adjusted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binomtest, chi2, norm
from statsmodels.stats.multitest import multipletests

from fracture.evaluation.metrics import roc_auc


@dataclass(frozen=True)
class PairedDifference:
    """Score of `other` minus score of the reference, with its bootstrap interval and two-sided p-value."""

    difference: float
    low: float
    high: float
    p_value: float
    resamples: int  # draws in which both scores were defined


def bootstrap_p_value(draws: np.ndarray) -> float:
    """Two-sided p-value of 'no difference': twice the smaller share of draws on either side of zero.

    The +1 in numerator and denominator counts the observed sample among the
    draws, so p is never 0 from a finite bootstrap.
    """
    below = (1 + np.count_nonzero(draws <= 0)) / (len(draws) + 1)
    above = (1 + np.count_nonzero(draws >= 0)) / (len(draws) + 1)
    return float(min(1.0, 2 * min(below, above)))


def paired_auc_differences(labels, scores: dict[str, np.ndarray], reference: str, draws: list[np.ndarray],
                           level: float = 0.95) -> dict[str, PairedDifference]:
    """ROC-AUC of each model minus the reference's, every model scored on the same resampled rows."""
    labels = np.asarray(labels)
    observed = {name: roc_auc(labels, values) for name, values in scores.items()}
    aucs = {name: [] for name in scores}
    for rows in draws:
        for name, values in scores.items():
            aucs[name].append(roc_auc(labels[rows], values[rows]))
    tail = (1 - level) / 2 * 100
    differences = {}
    for name in scores:
        if name == reference:
            continue
        pairs = [(mine, theirs) for mine, theirs in zip(aucs[name], aucs[reference])
                 if mine is not None and theirs is not None]
        delta = np.array([mine - theirs for mine, theirs in pairs])
        differences[name] = PairedDifference(
            observed[name] - observed[reference], float(np.percentile(delta, tail)),
            float(np.percentile(delta, 100 - tail)), bootstrap_p_value(delta), len(delta))
    return differences


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
    """Obuchowski's (1998) clustered McNemar test, with a Wald interval (kept within -1..1) for the difference.

    With x_k, y_k the images of group k that the reference and the other model
    get right, m_k its images, N and K the totals and p1, p2 the two shares:
    var(p2 - p1) = K / (K - 1) * sum_k ((y_k - m_k p2) - (x_k - m_k p1))^2 / N^2
    and (p2 - p1)^2 / var is chi-square with one degree of freedom. Where that
    variance is zero with a non-zero difference (every group discordant in the
    same proportion), the p-value is an exact sign test over the groups.
    """
    reference = np.asarray(reference_correct, dtype=float)
    other = np.asarray(other_correct, dtype=float)
    only_other = int(np.sum((other == 1) & (reference == 0)))
    only_reference = int(np.sum((reference == 1) & (other == 0)))
    codes = pd.factorize(np.asarray(groups))[0]
    count, groups_n = len(reference), int(codes.max()) + 1 if len(codes) else 0
    if count == 0 or groups_n < 2:
        return ClusteredDifference(math.nan, math.nan, math.nan, math.nan, only_other, only_reference, groups_n)
    sizes = np.bincount(codes)
    x, y = np.bincount(codes, weights=reference), np.bincount(codes, weights=other)
    p1, p2 = x.sum() / count, y.sum() / count
    spread = (y - sizes * p2) - (x - sizes * p1)
    variance = groups_n / (groups_n - 1) * float(np.sum(spread ** 2)) / count ** 2
    difference = float(p2 - p1)
    if variance > 1e-15:
        half = float(norm.ppf(1 - (1 - level) / 2)) * math.sqrt(variance)
        p_value = float(chi2.sf(difference ** 2 / variance, 1))
        return ClusteredDifference(difference, max(-1.0, difference - half), min(1.0, difference + half), p_value,
                                   only_other, only_reference, groups_n)
    net = y - x
    wins, losses = int(np.sum(net > 0)), int(np.sum(net < 0))
    p_value = 1.0 if wins + losses == 0 else float(binomtest(wins, wins + losses, 0.5).pvalue)
    return ClusteredDifference(difference, difference, difference, p_value, only_other, only_reference, groups_n)


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
