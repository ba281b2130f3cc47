import numpy as np
import pandas as pd
import pytest

from fracture.metrics import binary_metrics, choose_threshold, sensitivity_threshold, study_level, youden_threshold

LABELS = [1, 1, 1, 0, 0, 0, 0, 1]
PROBS = [0.9, 0.8, 0.4, 0.3, 0.6, 0.1, 0.2, 0.7]


def test_metrics_at_a_threshold_match_hand_computed_values():
    m = binary_metrics(LABELS, PROBS, threshold=0.5)
    # predicted 1 for 0.9, 0.8, 0.6, 0.7 -> tp 3 (0.9, 0.8, 0.7), fp 1 (0.6), fn 1 (0.4), tn 3
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (3, 1, 1, 3)
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["sensitivity"] == pytest.approx(3 / 4) and m["specificity"] == pytest.approx(3 / 4)
    assert m["precision"] == pytest.approx(3 / 4) and m["f1"] == pytest.approx(3 / 4)
    # kappa: observed 0.75, expected 0.5 -> (0.75 - 0.5) / 0.5
    assert m["kappa"] == pytest.approx(0.5)
    # AUC: of 16 positive-negative pairs, the positive scores higher in 15 (0.4 < 0.6 is the one miss)
    assert m["auc"] == pytest.approx(15 / 16)


def test_auc_uses_probabilities_not_thresholded_labels():
    m = binary_metrics([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], threshold=0.9)
    assert m["auc"] == 1.0 and m["sensitivity"] == 0.0


def test_undefined_metrics_are_none_not_errors():
    m = binary_metrics([0, 0, 0], [0.1, 0.2, 0.3], threshold=0.5)
    assert m["auc"] is None and m["sensitivity"] is None and m["precision"] is None and m["kappa"] is None
    assert m["specificity"] == 1.0


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


def test_study_level_averages_views():
    frame = pd.DataFrame({"study_id": ["a", "a", "b"], "patient_id": ["p", "p", "q"], "label": [1, 1, 0],
                          "probability": [0.2, 0.6, 0.3]})
    studies = study_level(frame)
    assert studies.set_index("study_id")["probability"].to_dict() == {"a": pytest.approx(0.4), "b": 0.3}
    assert studies["label"].tolist() == [1, 0]
