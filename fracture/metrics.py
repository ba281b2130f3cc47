"""Classification metrics computed the way a reviewer expects.

ROC-AUC is computed on probabilities, never on thresholded predictions. The
decision threshold is chosen on validation data and then applied, frozen, to
test data. Study-level scores average the probabilities of a study's views,
as MURA's evaluation does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score, roc_auc_score, roc_curve

THRESHOLD_METHODS = ("youden", "sensitivity")


def _safe_ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator / denominator) if denominator else None


def binary_metrics(labels, probabilities, threshold: float) -> dict:
    """AUC on probabilities; the rest at `threshold` (abnormal when probability >= threshold)."""
    labels = np.asarray(labels, dtype=int)
    probabilities = np.asarray(probabilities, dtype=float)
    predicted = (probabilities >= threshold).astype(int)
    tp = int(np.sum((predicted == 1) & (labels == 1)))
    tn = int(np.sum((predicted == 0) & (labels == 0)))
    fp = int(np.sum((predicted == 1) & (labels == 0)))
    fn = int(np.sum((predicted == 0) & (labels == 1)))
    both_classes = len(np.unique(labels)) == 2
    precision, sensitivity = _safe_ratio(tp, tp + fp), _safe_ratio(tp, tp + fn)
    f1 = _safe_ratio(2 * tp, 2 * tp + fp + fn)
    return {
        "n": int(len(labels)), "positives": int(labels.sum()),
        "auc": float(roc_auc_score(labels, probabilities)) if both_classes else None,
        "accuracy": _safe_ratio(tp + tn, len(labels)),
        "sensitivity": sensitivity,
        "specificity": _safe_ratio(tn, tn + fp),
        "precision": precision,
        "f1": f1,
        "kappa": _kappa(labels, predicted),
        "tp": tp, "tn": tn, "fp": fp, "fn": fn,
    }


def _kappa(labels: np.ndarray, predicted: np.ndarray) -> float | None:
    if len(np.unique(np.concatenate([labels, predicted]))) < 2:
        return None
    return float(cohen_kappa_score(labels, predicted))


def youden_threshold(labels, probabilities) -> float:
    """The threshold maximising sensitivity + specificity - 1.

    Among ties the lowest threshold wins: it trades specificity for
    sensitivity, and a missed fracture costs more than a false alarm.
    """
    fpr, tpr, thresholds = roc_curve(labels, probabilities)
    finite = np.isfinite(thresholds)
    j = (tpr - fpr)[finite]
    candidates = thresholds[finite]
    return float(candidates[np.flatnonzero(j == j.max())[-1]])


def sensitivity_threshold(labels, probabilities, target: float) -> float:
    """The highest threshold whose sensitivity reaches `target`."""
    labels = np.asarray(labels, dtype=int)
    positives = np.sort(np.asarray(probabilities, dtype=float)[labels == 1])[::-1]
    needed = int(np.ceil(target * len(positives)))
    return float(positives[max(needed, 1) - 1])


def choose_threshold(labels, probabilities, method: str, target_sensitivity: float) -> float:
    if method == "youden":
        return youden_threshold(labels, probabilities)
    return sensitivity_threshold(labels, probabilities, target_sensitivity)


def study_level(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per study: its label and the mean probability of its views."""
    grouped = frame.groupby("study_id", sort=True)
    return pd.DataFrame({"label": grouped["label"].max(), "probability": grouped["probability"].mean(),
                         "patient_id": grouped["patient_id"].first()}).reset_index()
