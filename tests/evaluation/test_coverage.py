"""Coverage of the project's own AUC interval on clustered data whose true AUC is known.

At a FracAtlas test split's size (92 patient groups, some 300 films, 15%
fractured) the percentile interval covered about 92% of the time at nominal
95%. `studies/interval_coverage.py` measures both with many more draws (and
the paired test's size); this keeps the suite's check fast, with the study's
own data, and fails if the interval's coverage drops below 0.90.
"""

import importlib.util
from pathlib import Path

import numpy as np

from fracture.evaluation.intervals import patient_bootstrap
from fracture.evaluation.metrics import roc_auc

STUDY = Path(__file__).resolve().parents[2] / "studies" / "interval_coverage.py"


def _study():
    spec = importlib.util.spec_from_file_location("interval_coverage", STUDY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_auc_interval_covers_the_true_auc_at_a_test_splits_size():
    study = _study()
    rng = np.random.default_rng(2026)
    truth, covered, draws = study.true_auc(), 0, 150
    for index in range(draws):
        labels, scores, _, codes = study.clustered_sample(rng)
        interval = patient_bootstrap(codes, lambda rows: {"auc": roc_auc(labels[rows], scores[rows])}, 400,
                                     seed=index, level=0.95)["auc"]
        covered += interval["low"] <= truth <= interval["high"]
    assert covered / draws >= 0.90, f"coverage {covered / draws:.3f} of a nominal 95% interval"
