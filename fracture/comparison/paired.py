"""Paired tests of two models scored on the same test images.

Two models tested on one set are correlated: an image that is hard for one is
usually hard for both. Comparing their separate intervals ignores that, so the
difference is bootstrapped directly, resampling patient groups once per draw
and scoring every model on the same draw. Sensitivity and specificity at the
frozen thresholds are compared with exact McNemar tests on the discordant
images; p-values across several comparisons are Holm-adjusted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from ..metrics import roc_auc


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
class McNemar:
    """Share of images one model gets right minus the other's, on the same images, and the exact p-value."""

    difference: float
    only_other: int  # images the other model gets right and the reference wrong
    only_reference: int
    p_value: float


def mcnemar_exact(reference_correct, other_correct) -> McNemar:
    """Exact McNemar test (a binomial test on the discordant images) of two models' paired hits."""
    reference_correct = np.asarray(reference_correct, dtype=bool)
    other_correct = np.asarray(other_correct, dtype=bool)
    both = int(np.sum(reference_correct & other_correct))
    only_reference = int(np.sum(reference_correct & ~other_correct))
    only_other = int(np.sum(~reference_correct & other_correct))
    neither = int(np.sum(~reference_correct & ~other_correct))
    result = mcnemar([[both, only_reference], [only_other, neither]], exact=True)
    difference = (only_other - only_reference) / len(reference_correct) if len(reference_correct) else float("nan")
    return McNemar(difference, only_other, only_reference, float(result.pvalue))


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment: the family-wise error stays at the level across the comparisons."""
    if not p_values:
        return []
    return [float(value) for value in multipletests(p_values, method="holm")[1]]
