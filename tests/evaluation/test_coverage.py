"""Coverage of the project's own AUC interval, and the size of its paired AUC test, on clustered data whose true
AUC is known.

At a FracAtlas test split's size (92 patient groups, some 280 films, 15%
fractured) the percentile interval covered 0.927 of the time at nominal
0.95 and the logit interval 0.933, and a paired test on a normal reference
rejected a true null 0.059 of the time, on t 0.046. `studies/interval_coverage.py` measures them with many more draws;
these keep the suite's check fast, on the study's own data, and fail if the
interval's coverage drops below 0.90 or the test's size rises above 0.10
(150 draws: a standard error of about 0.02).
"""


import numpy as np

from fracture.comparison.paired import paired_auc_differences
from fracture.evaluation.intervals import patient_bootstrap
from fracture.evaluation.metrics import roc_auc
from tests.conftest import study_module


def test_the_auc_interval_covers_the_true_auc_at_a_test_splits_size():
    study = study_module("interval_coverage")
    rng = np.random.default_rng(2026)
    truth, covered, draws = study.true_auc(), 0, 150
    for index in range(draws):
        labels, scores, _, codes = study.clustered_sample(rng)
        interval = patient_bootstrap(codes, lambda rows: {"auc": roc_auc(labels[rows], scores[rows])}, 400,
                                     seed=index, level=0.95)["auc"]
        covered += interval["low"] <= truth <= interval["high"]
    assert covered / draws >= 0.90, f"coverage {covered / draws:.3f} of a nominal 95% interval"


def test_the_paired_auc_test_holds_its_size_under_a_clustered_null():
    study = study_module("interval_coverage")
    rng = np.random.default_rng(2027)
    rejections, draws = 0, 150
    for index in range(draws):
        labels, first, second, codes = study.clustered_sample(rng)
        difference = paired_auc_differences(labels, {"a": first, "b": second}, "a", codes, 300, seed=index)["b"]
        rejections += difference.p_value < 0.05
    assert rejections / draws <= 0.10, f"a true null rejected {rejections / draws:.3f} of the time at nominal 0.05"
