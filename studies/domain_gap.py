"""The domain gap of one model: its ROC-AUC on an outside set minus that on its own test split, with an interval.

The two sets share no image and no group, so the difference is not a paired
one: each set is resampled over its own groups, independently, and the
difference is taken draw by draw (percentile interval).

    python studies/domain_gap.py reports/eval/predictions.csv reports/external/NAME/predictions.csv \
        [--region hand] [--resamples 2000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fracture.evaluation.intervals import group_resamples  # noqa: E402
from fracture.evaluation.metrics import roc_auc  # noqa: E402


def _auc_draws(frame: pd.DataFrame, resamples: int, seed: int) -> np.ndarray:
    labels, scores = frame["label"].to_numpy(), frame["probability"].to_numpy()
    draws = [roc_auc(labels[rows], scores[rows]) for rows in group_resamples(frame["patient_id"].to_numpy(),
                                                                             resamples, seed)]
    return np.array([np.nan if draw is None else draw for draw in draws])


def _line(name: str, frame: pd.DataFrame, draws: np.ndarray) -> str:
    low, high = np.nanpercentile(draws, [2.5, 97.5])
    return (f"{name}: ROC-AUC {roc_auc(frame['label'], frame['probability']):.3f} [{low:.3f}, {high:.3f}] "
            f"({len(frame)} images, {int(frame['label'].sum())} fractured, {frame['patient_id'].nunique()} groups)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("test", type=Path, help="the run's reports/eval/predictions.csv")
    parser.add_argument("outside", type=Path, help="an outside set's predictions.csv")
    parser.add_argument("--region", help="only this region of the outside set")
    parser.add_argument("--resamples", type=int, default=2000)
    arguments = parser.parse_args()
    test = pd.read_csv(arguments.test)
    test = test[test["split"] == "test"]
    outside = pd.read_csv(arguments.outside)
    if arguments.region:
        outside = outside[outside["region"] == arguments.region]
    test_draws = _auc_draws(test, arguments.resamples, seed=1)
    outside_draws = _auc_draws(outside, arguments.resamples, seed=2)
    gap = outside_draws - test_draws
    low, high = np.nanpercentile(gap, [2.5, 97.5])
    observed = roc_auc(outside["label"], outside["probability"]) - roc_auc(test["label"], test["probability"])
    print(_line("test split", test, test_draws))
    print(_line("outside set" + (f" ({arguments.region})" if arguments.region else ""), outside, outside_draws))
    print(f"gap (outside - test): {observed:+.3f} [{low:+.3f}, {high:+.3f}], independent group resamples")


if __name__ == "__main__":
    main()
