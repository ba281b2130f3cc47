"""The patient-clustered bootstrap: whole patients resampled, seeded, logit or BCa, Wilson's for a proportion
it cannot hold, undefined draws left out."""

import numpy as np
import pytest

from fracture.evaluation.intervals import patient_bootstrap, wald_p_value, wilson
from fracture.evaluation.metrics import SIGNED, binary_metrics, proportion_counts, roc_auc


def test_bootstrap_resamples_patients_not_images():
    # patient A's 10 films are all right, patient B's 10 all wrong: only 0, 1/2 or 1 can come out
    patients = np.array(["A"] * 10 + ["B"] * 10)
    correct = np.array([1.0] * 10 + [0.0] * 10)
    seen = set()

    def accuracy(rows):
        seen.add(float(correct[rows].mean()))
        return {"accuracy": float(correct[rows].mean()), "count": len(rows)}

    interval = patient_bootstrap(patients, accuracy, resamples=400, seed=0)
    assert seen == {0.0, 0.5, 1.0}
    assert interval["accuracy"]["low"] < 0.1 and interval["accuracy"]["high"] > 0.9, \
        "an image bootstrap would give a narrow interval around 0.5"
    assert "count" not in interval, "a count gets no interval"


def test_bootstrap_is_seeded_and_skips_undefined_draws():
    patients = np.repeat(np.arange(30), 2)
    labels = np.tile([0, 1], 30)
    scores = labels * 0.5 + np.random.default_rng(1).random(60) * 0.6
    compute = lambda rows: binary_metrics(labels[rows], scores[rows], 0.5)  # noqa: E731
    first = patient_bootstrap(patients, compute, 200, seed=3, unbounded=SIGNED)
    assert first == patient_bootstrap(patients, compute, 200, seed=3, unbounded=SIGNED)
    assert first["auc"]["method"] == "logit" and first["auc"]["low"] <= roc_auc(labels, scores) <= first["auc"]["high"]
    assert first["kappa"]["method"] == "bca", "kappa can be negative: no logit"
    assert "tp" not in first
    one_class = np.array([0, 0, 1, 1])  # patient 0 all normal, patient 1 all fractured: half the draws undefined
    interval = patient_bootstrap(np.array([0, 0, 1, 1]), lambda rows: {"auc": roc_auc(one_class[rows],
                                                                                      rows.astype(float))}, 200, 0)
    assert interval == {}, "every defined draw ranks perfectly: no interval rather than [1, 1]"


def test_a_proportion_of_0_or_1_or_on_few_images_gets_wilsons_never_a_zero_width_interval():
    # 12 of 12 fractured films found, over 12 patients: Wilson gives [0.758, 1], a percentile bootstrap [1, 1]
    labels = np.array([1] * 12 + [0] * 20)
    probabilities = np.r_[np.linspace(0.6, 0.9, 12), np.linspace(0.1, 0.7, 20)]
    patients = np.arange(32)
    result = binary_metrics(labels, probabilities, 0.5)
    intervals = patient_bootstrap(patients, lambda rows: binary_metrics(labels[rows], probabilities[rows], 0.5),
                                  500, 0, counts=proportion_counts(result))
    assert result["sensitivity"] == 1.0
    assert intervals["sensitivity"]["method"] == "wilson"
    assert intervals["sensitivity"]["low"] == pytest.approx(0.7575, abs=1e-4) and intervals["sensitivity"]["high"] == 1
    assert intervals["specificity"]["method"] == "logit", "a proportion strictly inside 0..1 over 20 images"
    few = patient_bootstrap(patients[:6], lambda rows: {"accuracy": 0.5}, 100, 0, counts={"accuracy": (3, 6)})
    assert few["accuracy"]["method"] == "wilson" and few["accuracy"]["low"] == pytest.approx(wilson(3, 6)[0])


def test_wilson_by_hand_and_the_wald_p_from_a_standard_error():
    z = 1.959964
    # 0 of 2 at 95%: centre (0 + z^2/4) / (1 + z^2/2), half-width z/(1 + z^2/2) x z/4
    assert wilson(0, 2) == pytest.approx((0.0, 2 * (z * z / 4) / (1 + z * z / 2)), abs=1e-6)
    assert wilson(5, 5)[1] == 1.0
    assert wald_p_value(0.02, 0.01) == pytest.approx(0.0455, abs=1e-4)
    assert wald_p_value(0.0, None) == 1.0 and np.isnan(wald_p_value(0.3, None))
