"""Thresholds are chosen on validation predictions only, per image and per study, then frozen."""

import numpy as np
import pandas as pd
import pytest

from fracture.evaluation.metrics import binary_metrics
from fracture.evaluation.thresholds import (
    choose_threshold,
    sensitivity_threshold,
    validation_thresholds,
    youden_threshold,
)
from tests.evaluation.test_metrics import LABELS, PROBS


def test_youden_threshold_maximises_j_and_breaks_ties_towards_sensitivity():
    # J = 0.75 both at 0.7 (sensitivity 3/4, specificity 1) and at 0.4 (1, 3/4): a missed
    # fracture costs more than a false alarm, so the lower, more sensitive cut wins.
    threshold = youden_threshold(LABELS, PROBS)
    assert threshold == pytest.approx(0.4)
    m = binary_metrics(LABELS, PROBS, threshold)
    assert (m["sensitivity"], m["specificity"]) == (1.0, 0.75)
    assert youden_threshold([0, 0, 1, 1], [0.1, 0.3, 0.35, 0.8]) == pytest.approx(0.35)


def test_sensitivity_threshold_reaches_the_target_with_the_highest_cut():
    assert sensitivity_threshold(LABELS, PROBS, 0.75) == pytest.approx(0.7)
    assert sensitivity_threshold(LABELS, PROBS, 1.0) == pytest.approx(0.4)
    assert choose_threshold(LABELS, PROBS, "sensitivity", 0.5) == pytest.approx(0.8)


def test_studies_get_their_own_validation_threshold():
    # studies (views): s1 abnormal (0.9, 0.2), s2 normal (0.3, 0.1), s3 normal (0.5, 0.4), s4 abnormal (0.7, 0.35)
    frame = pd.DataFrame({"study_id": np.repeat(["s1", "s2", "s3", "s4"], 2),
                          "patient_id": np.repeat(["p1", "p2", "p3", "p4"], 2),
                          "label": np.repeat([1, 0, 0, 1], 2),
                          "probability": [0.9, 0.2, 0.3, 0.1, 0.5, 0.4, 0.7, 0.35]})
    # images: J = 2/4 - 0 at 0.7, the best; study means 0.55, 0.2, 0.45, 0.525: J = 1 at 0.525, where 0.7
    # would miss every abnormal study
    assert validation_thresholds(frame, "youden", 0.9) == pytest.approx((0.7, 0.525))
    assert validation_thresholds(frame, "sensitivity", 1.0) == pytest.approx((0.2, 0.525))


def test_threshold_is_frozen_not_refitted_on_test():
    from fracture.evaluation.scoring import EvaluateConfig, Task, predictions_frame, split_metrics

    rows = pd.DataFrame({"image_id": list("abcd"), "path": "", "patient_id": list("abcd"), "study_id": list("abcd"),
                         "region": "wrist", "split": "test", "label": [0, 0, 1, 1]})
    probabilities = np.array([[0.9, 0.1], [0.7, 0.3], [0.6, 0.4], [0.2, 0.8]])
    task = Task("fracture", ["normal", "abnormal"], threshold=0.5, study_threshold=0.5)  # 0.35 would be perfect
    metrics = split_metrics(predictions_frame(rows, probabilities, task), task, EvaluateConfig(0, 0.95, 10, 0, 0))
    assert metrics["image"]["sensitivity"] == 0.5 and metrics["image"]["auc"] == 1.0
    assert metrics["study"]["sensitivity"] == 0.5
