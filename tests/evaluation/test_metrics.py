import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from fracture.evaluation.metrics import (
    COLLAPSED_SPREAD,
    average_precision,
    binary_metrics,
    calibration,
    expected_calibration_error,
    multiclass_metrics,
    output_spread,
    roc_auc,
    study_level,
)

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


def test_study_level_averages_views():
    frame = pd.DataFrame({"study_id": ["a", "a", "b"], "patient_id": ["p", "p", "q"], "label": [1, 1, 0],
                          "probability": [0.2, 0.6, 0.3]})
    studies = study_level(frame, ["probability"])
    assert studies.set_index("study_id")["probability"].to_dict() == {"a": pytest.approx(0.4), "b": 0.3}
    assert studies["label"].tolist() == [1, 0]


def test_auc_and_pr_auc_by_hand_with_ties():
    labels, scores = [1, 0, 1, 0, 1], [0.9, 0.9, 0.5, 0.2, 0.2]
    # pairs (pos, neg): (0.9,0.9) half, (0.9,0.2) win, (0.5,0.9) loss, (0.5,0.2) win, (0.2,0.9) loss, (0.2,0.2) half
    assert roc_auc(labels, scores) == pytest.approx(3 / 6)
    # thresholds 0.9: P 1/2 R 1/3; 0.5: P 2/3 R 2/3; 0.2: P 3/5 R 1 -> 1/2*1/3 + 2/3*1/3 + 3/5*1/3
    assert average_precision(labels, scores) == pytest.approx((1 / 2 + 2 / 3 + 3 / 5) / 3)
    rng = np.random.default_rng(0)
    many_labels, many_scores = rng.integers(0, 2, 300), rng.random(300).round(2)
    assert roc_auc(many_labels, many_scores) == pytest.approx(roc_auc_score(many_labels, many_scores))
    assert average_precision(many_labels, many_scores) == pytest.approx(
        average_precision_score(many_labels, many_scores))
    assert binary_metrics(LABELS, PROBS, 0.5)["pr_auc"] == pytest.approx(average_precision_score(LABELS, PROBS))


def test_multiclass_metrics_by_hand():
    classes = ["elbow", "hand", "wrist"]
    labels = [0, 0, 1, 1, 2, 2]
    probabilities = np.array([[.8, .1, .1], [.2, .7, .1], [.1, .8, .1], [.1, .6, .3], [.1, .2, .7], [.6, .1, .3]])
    m = multiclass_metrics(labels, probabilities, classes)
    # predicted 0, 1, 1, 1, 2, 0: right 4 of 6; recalls 1/2, 1, 1/2; hand precision 2/3
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    assert m["per_class"]["hand"]["precision"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    # kappa: p_o 4/6; marginals actual (2,2,2), predicted (2,3,1) -> p_e (4+6+2)/36
    assert m["kappa"] == pytest.approx((4 / 6 - 12 / 36) / (1 - 12 / 36))
    assert m["per_class"]["elbow"]["auc"] == pytest.approx(roc_auc_score([1, 1, 0, 0, 0, 0], probabilities[:, 0]))


def test_calibration_table_and_ece_by_hand():
    labels = [0, 0, 1, 1, 1]
    probabilities = [0.05, 0.15, 0.15, 0.85, 0.95]
    table, ece = calibration(labels, probabilities, bins=2)
    # bin [0, .5): mean p (.05+.15+.15)/3 = .1167, observed 1/3; bin [.5, 1]: mean .9, observed 1
    assert table["count"].tolist() == [3, 2]
    assert ece == pytest.approx((3 * abs(0.35 / 3 - 1 / 3) + 2 * abs(0.9 - 1.0)) / 5)


def test_the_bootstraps_ece_is_the_reliability_tables_with_empty_bins_and_a_probability_of_one():
    rng = np.random.default_rng(3)
    probabilities = np.concatenate([rng.beta(0.5, 3, 200), [1.0, 0.0]])  # the top bins stay empty but for 1.0
    labels = (rng.random(202) < probabilities).astype(int)
    table, _ = calibration(labels, probabilities, bins=10)
    filled = table[table["count"] > 0]
    by_table = float((filled["count"] * (filled["mean_predicted"] - filled["observed"]).abs()).sum() / 202)
    assert (table["count"] == 0).any() and table["count"].iloc[-1] >= 1
    assert expected_calibration_error(labels, probabilities, 10) == pytest.approx(by_table, abs=1e-12)
    assert expected_calibration_error([], [], 10) is None


def test_output_spread_flags_a_model_that_answers_the_same_for_every_image():
    collapsed = np.tile([0.5, 0.5], (40, 1)) + np.random.default_rng(0).normal(0, 1e-4, (40, 1)) * [1, -1]
    learned = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    assert output_spread(collapsed) < COLLAPSED_SPREAD
    assert output_spread(learned) == pytest.approx(np.std([0.1, 0.8, 0.4, 0.7]))
    assert output_spread(learned) > COLLAPSED_SPREAD
