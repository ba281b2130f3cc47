"""Decision thresholds, chosen on validation predictions only and then frozen for every set scored after.

Youden's J treats a missed fracture and a false alarm alike; `sensitivity`
takes the highest threshold that still finds the target share of fractures.
Studies get their own threshold, since a study's mean probability sits below
that of the view where its fracture shows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from fracture.evaluation.metrics import study_level

THRESHOLD_METHODS = ("youden", "sensitivity")


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


def validation_thresholds(frame: pd.DataFrame, method: str, target_sensitivity: float,
                          studies: bool = True) -> tuple[float, float | None]:
    """The image and the study threshold, both chosen on validation predictions.

    `frame` has one row per image with `label`, `probability`, `study_id` and
    `patient_id`. A study's probability is the mean of its views', which sits
    below that of the view where the fracture shows, so studies get their own
    threshold rather than borrowing the images'. Data without `studies` (each
    image its own study) gets no study threshold.
    """
    image = choose_threshold(frame["label"], frame["probability"], method, target_sensitivity)
    if not studies:
        return image, None
    by_study = study_level(frame, ["probability"])
    return image, choose_threshold(by_study["label"], by_study["probability"], method, target_sensitivity)
