"""Every number of the comparison's experiment table with its interval.

Sensitivity, specificity, PPV and NPV (at the test set's own prevalence) and
ECE get percentile intervals over resamples of patient groups, as ROC-AUC
does in evaluate. A proportion that rests on fewer than MIN_COUNT images is
too small for a percentile bootstrap (a compare of 20 test images with 2
abnormal printed sensitivity 0.000 [0.000, 0.000]): it gets a Wilson score
interval, which holds at that size though it cannot see patient groups, and
the table says which.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from fracture.evaluation.intervals import patient_bootstrap, wilson
from fracture.evaluation.metrics import calibration

MIN_COUNT = 10
PROPORTIONS = {"sensitivity": ("tp", "fn"), "specificity": ("tn", "fp"), "ppv": ("tp", "fp"), "npv": ("tn", "fn")}


def _counts(labels: np.ndarray, predicted: np.ndarray) -> dict[str, int]:
    return {"tp": int(np.sum((labels == 1) & (predicted == 1))), "fn": int(np.sum((labels == 1) & (predicted == 0))),
            "tn": int(np.sum((labels == 0) & (predicted == 0))), "fp": int(np.sum((labels == 0) & (predicted == 1)))}


def _values(labels: np.ndarray, predicted: np.ndarray, probabilities: np.ndarray, bins: int) -> dict[str, float]:
    """The table's metrics of one sample; a proportion with nothing behind it is left out."""
    counts = _counts(labels, predicted)
    values = {name: counts[hit] / (counts[hit] + counts[miss]) for name, (hit, miss) in PROPORTIONS.items()
              if counts[hit] + counts[miss]}
    values["ece"] = calibration(labels, probabilities, bins)[1]
    return {name: float(value) for name, value in values.items() if value is not None}


def table_estimates(test: pd.DataFrame, resamples: int, seed: int, level: float, bins: int) -> dict[str, dict | None]:
    """Value, interval, the count it rests on and the interval's method, per metric of the table."""
    labels, predicted = test["label"].to_numpy(), test["predicted"].to_numpy()
    probabilities = test["probability"].to_numpy()
    observed = _values(labels, predicted, probabilities, bins)
    intervals = patient_bootstrap(test["patient_id"].to_numpy(),
                                  lambda rows: _values(labels[rows], predicted[rows], probabilities[rows], bins),
                                  resamples, seed, level)
    counts = _counts(labels, predicted)
    estimates: dict[str, dict | None] = {}
    for name, (hit, miss) in PROPORTIONS.items():
        total = counts[hit] + counts[miss]
        if not total:
            estimates[name] = None
            continue
        small = total < MIN_COUNT
        low, high = wilson(counts[hit], total, level) if small else intervals.get(name, (math.nan, math.nan))
        estimates[name] = {"value": observed[name], "low": low, "high": high, "count": total,
                           "method": "wilson" if small else "bootstrap"}
    low, high = intervals.get("ece", (math.nan, math.nan))
    estimates["ece"] = {"value": observed.get("ece"), "low": low, "high": high, "count": len(labels),
                        "method": "bootstrap"}
    return estimates
