"""Classification metrics computed the way a reviewer expects.

ROC-AUC and PR-AUC are computed on probabilities, never on thresholded
predictions; the metrics at a threshold take one chosen on validation data
(`thresholds.py`) and frozen. Study-level scores average the probabilities of
a study's views, as MURA's evaluation does; their intervals come from
`intervals.patient_bootstrap`, with `proportion_counts` for its Wilson rule.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Below this spread of validation probabilities a model gives every image the
# same answer: its AUC is chance and its threshold meaningless.
COLLAPSED_SPREAD = 0.01


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator / denominator) if denominator else None


def roc_auc(labels, scores) -> float | None:
    """Probability that a random positive outranks a random negative (ties count half)."""
    labels = np.asarray(labels, dtype=bool)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if not positives or not negatives:
        return None
    scores = np.asarray(scores, dtype=float)
    ordered = np.sort(scores)  # average ranks (1-based, ties shared): the bootstrap calls this thousands of times
    ranks = (np.searchsorted(ordered, scores, "left") + np.searchsorted(ordered, scores, "right") + 1) / 2
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def average_precision(labels, scores) -> float | None:
    """PR-AUC as the step-wise sum of precision times recall gained, over distinct thresholds."""
    labels = np.asarray(labels, dtype=int)
    positives = int(labels.sum())
    if not positives:
        return None
    scores = np.asarray(scores, dtype=float)
    order = np.argsort(-scores, kind="mergesort")
    hits = np.cumsum(labels[order])
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores[order])), len(scores) - 1]
    precision = hits[last_of_tie] / (last_of_tie + 1)
    recall_gain = np.diff(np.r_[0, hits[last_of_tie]]) / positives
    return float(np.sum(precision * recall_gain))


def _kappa(observed_agreement: float, expected_agreement: float) -> float | None:
    return _ratio(observed_agreement - expected_agreement, 1 - expected_agreement)


def binary_metrics(labels, probabilities, threshold: float) -> dict:
    """AUCs on probabilities; the rest at `threshold` (abnormal when probability >= threshold)."""
    labels = np.asarray(labels, dtype=int)
    probabilities = np.asarray(probabilities, dtype=float)
    predicted = (probabilities >= threshold).astype(int)
    tp = int(np.sum((predicted == 1) & (labels == 1)))
    tn = int(np.sum((predicted == 0) & (labels == 0)))
    fp = int(np.sum((predicted == 1) & (labels == 0)))
    fn = int(np.sum((predicted == 0) & (labels == 1)))
    n = len(labels)
    expected = ((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp)) / n**2 if n else 1.0
    return {
        "n": n, "positives": tp + fn,
        "auc": roc_auc(labels, probabilities),
        "pr_auc": average_precision(labels, probabilities),
        "accuracy": _ratio(tp + tn, n),
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "precision": _ratio(tp, tp + fp),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "kappa": _kappa((tp + tn) / n, expected) if n else None,
        "tp": tp, "tn": tn, "fp": fp, "fn": fn,
    }


SIGNED = ("kappa",)  # metrics that can fall below 0: no logit interval


def proportion_counts(result: dict) -> dict[str, tuple[int, int]]:
    """Successes and total behind each proportion of a `binary_metrics` or `multiclass_metrics` result, for
    the intervals' Wilson rule."""
    if "tp" not in result:
        return {"accuracy": (round(result["accuracy"] * result["n"]), result["n"])} if result["n"] else {}
    tp, tn, fp, fn = (result[key] for key in ("tp", "tn", "fp", "fn"))
    return {"accuracy": (tp + tn, tp + tn + fp + fn), "sensitivity": (tp, tp + fn), "specificity": (tn, tn + fp),
            "precision": (tp, tp + fp)}


def auc_of(labels, probabilities) -> float | None:
    """ROC-AUC of an (N x classes) probability array: of the positive class for two classes, else the
    one-vs-rest macro average over the classes present; None where undefined."""
    labels = np.asarray(labels, dtype=int)
    probabilities = np.asarray(probabilities, dtype=float)
    if probabilities.shape[1] == 2:
        return roc_auc(labels, probabilities[:, 1])
    aucs = [roc_auc(labels == k, probabilities[:, k]) for k in range(probabilities.shape[1])]
    defined = [value for value in aucs if value is not None]
    return float(np.mean(defined)) if defined else None


def multiclass_metrics(labels, probabilities, classes: list[str]) -> dict:
    """Accuracy, balanced accuracy, macro F1, Cohen's kappa, one-vs-rest macro AUC, per-class scores."""
    labels = np.asarray(labels, dtype=int)
    probabilities = np.asarray(probabilities, dtype=float)
    predicted = probabilities.argmax(axis=1)
    k, n = len(classes), len(labels)
    confusion = np.zeros((k, k), dtype=int)
    np.add.at(confusion, (labels, predicted), 1)
    per_class, recalls, f1s = {}, [], []
    for index, name in enumerate(classes):
        tp, support, called = confusion[index, index], confusion[index].sum(), confusion[:, index].sum()
        scores = {"n": int(support), "sensitivity": _ratio(tp, support), "precision": _ratio(tp, called),
                  "f1": _ratio(2 * tp, support + called), "auc": roc_auc(labels == index, probabilities[:, index])}
        per_class[name] = scores
        if support:
            recalls.append(scores["sensitivity"])
            f1s.append(scores["f1"] or 0.0)
    expected = float((confusion.sum(axis=0) * confusion.sum(axis=1)).sum()) / n**2 if n else 0.0
    return {
        "n": n,
        "accuracy": _ratio(np.trace(confusion), n),
        "balanced_accuracy": float(np.mean(recalls)) if recalls else None,
        "macro_f1": float(np.mean(f1s)) if f1s else None,
        "kappa": _kappa(np.trace(confusion) / n, expected) if n else None,
        "auc": auc_of(labels, probabilities),
        "per_class": per_class,
    }


def output_spread(probabilities) -> float:
    """The largest per-class standard deviation of an (N x classes) probability array.

    A network that diverged or never left its initial state answers the same
    for every image; this catches it where a loss curve can look plausible.
    """
    return float(np.asarray(probabilities, dtype=float).std(axis=0).max())


def study_level(frame: pd.DataFrame, probability_columns: list[str]) -> pd.DataFrame:
    """One row per study: its label, its patient and the mean of its views' probabilities."""
    grouped = frame.groupby("study_id", sort=True)
    studies = grouped[probability_columns].mean()
    studies["label"] = grouped["label"].max()
    studies["patient_id"] = grouped["patient_id"].first()
    return studies.reset_index()


def _bins(probabilities: np.ndarray, bins: int) -> np.ndarray:
    return np.minimum((probabilities * bins).astype(int), bins - 1)


def expected_calibration_error(labels, probabilities, bins: int = 10) -> float | None:
    """The ECE over equal-width probability bins: each bin's |mean predicted - observed|, weighted by its share of
    the images. Numpy only, since a bootstrap computes it a thousand times."""
    labels = np.asarray(labels, dtype=float)
    probabilities = np.asarray(probabilities, dtype=float)
    if not len(labels):
        return None
    index = _bins(probabilities, bins)
    gap = np.bincount(index, probabilities, bins) - np.bincount(index, labels, bins)
    return float(np.abs(gap).sum() / len(labels))


def calibration(labels, probabilities, bins: int = 10) -> tuple[pd.DataFrame, float | None]:
    """Reliability table over equal-width probability bins and the expected calibration error."""
    labels = np.asarray(labels, dtype=float)
    probabilities = np.asarray(probabilities, dtype=float)
    table = pd.DataFrame({"bin": _bins(probabilities, bins), "probability": probabilities, "label": labels}).groupby(
        "bin").agg(count=("label", "size"), mean_predicted=("probability", "mean"), observed=("label", "mean"))
    table = table.reindex(range(bins)).reset_index()
    table.insert(1, "lower", table["bin"] / bins)
    table.insert(2, "upper", (table["bin"] + 1) / bins)
    table["count"] = table["count"].fillna(0).astype(int)
    return table, expected_calibration_error(labels, probabilities, bins)
