"""Which calibration makes a recipe's probabilities readable: none, temperature or Platt, refitted per fold.

Every fold's predictions.csv keeps its validation rows' calibrated
probabilities, and each method is an affine map of the log-odds, so each can
be refitted on a fold's validation films from what was written, applied to
its test films, and scored by the pooled test ECE without training again.
Every film's rank, so the AUC and each frozen threshold's decisions, stays
as it was. The interval is over patient groups; the paired difference of two
methods is scored on the same resamples.

    python studies/recalibration.py PREDICTIONS.csv [PREDICTIONS.csv ...] [--resamples 1000]

One predictions.csv per fold: `dvc.api.read('reports/eval/predictions.csv', rev=EXP)` reads an experiment's
(docs/studies/fracture_map.md fetches them).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fracture.evaluation.intervals import patient_bootstrap  # noqa: E402
from fracture.evaluation.metrics import calibration  # noqa: E402
from fracture.evaluation.recalibration import fit_calibration  # noqa: E402

METHODS = ("none", "temperature", "platt")  # none: the probabilities as the run wrote them, its own calibration kept


def _two_classes(probability: np.ndarray) -> np.ndarray:
    return np.stack([1 - probability, probability], axis=1)


def refitted(frame: pd.DataFrame, method: str) -> np.ndarray:
    """One fold's test probabilities under `method`, fitted on that fold's validation rows."""
    val, test = frame[frame["split"] == "val"], frame[frame["split"] == "test"]
    fitted = fit_calibration(method, _two_classes(val["probability"].to_numpy(float)), val["label"].to_numpy())
    return fitted.apply(torch.from_numpy(_two_classes(test["probability"].to_numpy(float)))).numpy()[:, 1]


def study(folds: list[pd.DataFrame], resamples: int, seed: int = 42) -> dict:
    """Pooled test ECE of each method with its interval, and each method's paired difference from the
    probabilities as written."""
    tests = pd.concat([frame[frame["split"] == "test"] for frame in folds], ignore_index=True)
    probability = {method: np.concatenate([refitted(frame, method) for frame in folds]) for method in METHODS}
    labels = tests["label"].to_numpy()

    def eces(rows: np.ndarray) -> dict:
        ece = {method: calibration(labels[rows], probability[method][rows])[1] for method in METHODS}
        return {"as written": ece["none"], "temperature": ece["temperature"], "platt": ece["platt"],
                **{f"{method} - as written": ece[method] - ece["none"] for method in METHODS[1:]},
                "platt - temperature": ece["platt"] - ece["temperature"]}

    intervals = patient_bootstrap(tests["patient_id"].to_numpy(), eces, resamples, seed,
                                  unbounded=tuple(eces(np.arange(len(labels)))))
    whole = eces(np.arange(len(labels)))
    return {"films": len(tests), "fractured": int(labels.sum()), "groups": int(tests["patient_id"].nunique()),
            **{key: (value, intervals[key]["low"], intervals[key]["high"]) for key, value in whole.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("predictions", nargs="+", type=Path, help="each fold's reports/eval/predictions.csv")
    parser.add_argument("--resamples", type=int, default=1000)
    arguments = parser.parse_args()
    missing = [str(path) for path in arguments.predictions if not path.is_file()]
    if missing:
        sys.exit(f"recalibration: no file {', '.join(missing)}; give each fold's reports/eval/predictions.csv")
    folds = [pd.read_csv(path, dtype={"patient_id": str}) for path in arguments.predictions]
    result = study(folds, arguments.resamples)
    print(f"{result['films']} test films ({result['fractured']} fractured, {result['groups']} groups), "
          f"{len(folds)} folds; pooled test ECE of P(fracture), 95% intervals over groups:")
    for key, value in result.items():
        if isinstance(value, tuple):
            print(f"  {key}: {value[0]:.3f} [{value[1]:.3f}, {value[2]:.3f}]")


if __name__ == "__main__":
    main()
