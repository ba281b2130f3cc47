"""The patient-clustered bootstrap: whole patients resampled, seeded, undefined draws skipped."""

import numpy as np

from fracture.evaluation.intervals import patient_bootstrap
from fracture.evaluation.metrics import binary_metrics, roc_auc


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
    assert interval == {"accuracy": [0.0, 1.0]}, "an image bootstrap would give a narrow interval around 0.5"


def test_bootstrap_is_seeded_and_skips_undefined_draws():
    patients = np.repeat(np.arange(30), 2)
    labels = np.tile([0, 1], 30)
    scores = labels * 0.5 + np.random.default_rng(1).random(60) * 0.6
    compute = lambda rows: binary_metrics(labels[rows], scores[rows], 0.5)  # noqa: E731
    first = patient_bootstrap(patients, compute, 200, seed=3)
    assert first == patient_bootstrap(patients, compute, 200, seed=3)
    low, high = first["auc"]
    assert low <= roc_auc(labels, scores) <= high and "tp" not in first
