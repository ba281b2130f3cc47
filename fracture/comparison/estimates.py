"""Every number of the comparison's experiment table with its interval.

Sensitivity, specificity, PPV and NPV (at the test set's own prevalence) and
ECE get intervals over resamples of patient groups, as every metric does
in evaluate. A proportion of 0 or 1, or one over fewer than ten images, gets
Wilson's interval instead (a compare of 20 test images with 2 abnormal once
printed sensitivity 0.000 [0.000, 0.000]), and the table says which.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fracture.evaluation.intervals import patient_bootstrap
from fracture.evaluation.metrics import expected_calibration_error

PROPORTIONS = {"sensitivity": ("tp", "fn"), "specificity": ("tn", "fp"), "ppv": ("tp", "fp"), "npv": ("tn", "fn")}


def _counts(labels: np.ndarray, predicted: np.ndarray) -> dict[str, int]:
    return {"tp": int(np.sum((labels == 1) & (predicted == 1))), "fn": int(np.sum((labels == 1) & (predicted == 0))),
            "tn": int(np.sum((labels == 0) & (predicted == 0))), "fp": int(np.sum((labels == 0) & (predicted == 1)))}


def _values(labels: np.ndarray, predicted: np.ndarray, probabilities: np.ndarray, bins: int) -> dict[str, float]:
    """The table's metrics of one sample; a proportion with nothing behind it is left out."""
    counts = _counts(labels, predicted)
    values = {name: counts[hit] / (counts[hit] + counts[miss]) for name, (hit, miss) in PROPORTIONS.items()
              if counts[hit] + counts[miss]}
    values["ece"] = expected_calibration_error(labels, probabilities, bins)
    return {name: float(value) for name, value in values.items() if value is not None}


def table_estimates(test: pd.DataFrame, resamples: int, seed: int, level: float, bins: int) -> dict[str, dict | None]:
    """Value, interval, the count it rests on and the interval's method, per metric of the table."""
    labels, predicted = test["label"].to_numpy(), test["predicted"].to_numpy()
    probabilities = test["probability"].to_numpy()
    observed = _values(labels, predicted, probabilities, bins)
    counts = _counts(labels, predicted)
    totals = {name: (counts[hit], counts[hit] + counts[miss]) for name, (hit, miss) in PROPORTIONS.items()}
    intervals = patient_bootstrap(test["patient_id"].to_numpy(),
                                  lambda rows: _values(labels[rows], predicted[rows], probabilities[rows], bins),
                                  resamples, seed, level, totals)
    estimates: dict[str, dict | None] = {}
    for name in (*PROPORTIONS, "ece"):
        if name not in observed:
            estimates[name] = None
            continue
        interval = intervals.get(name, {"low": None, "high": None, "method": None})
        estimates[name] = {"value": observed[name], "low": interval["low"], "high": interval["high"],
                           "count": totals[name][1] if name in totals else len(labels), "method": interval["method"]}
    return estimates
