"""The domain gap of one model: its ROC-AUC on an outside set minus that on its own test split, with an interval.

The two sets share no image and no group, so the difference is not a paired
one: each set is resampled over its own groups, independently (scipy's
two-sample bootstrap, BCa). With --region, both sets keep that region's films
only, so a region is compared with the same region.

    python studies/domain_gap.py reports/eval/predictions.csv reports/external/NAME/predictions.csv \
        [--region hand] [--resamples 2000]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import bootstrap

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fracture.evaluation.intervals import patient_bootstrap, rows_of_groups  # noqa: E402
from fracture.evaluation.metrics import roc_auc  # noqa: E402


def _auc_of_groups(frame: pd.DataFrame):
    """The AUC of a resample given as group positions, for scipy's bootstrap."""
    labels, scores = frame["label"].to_numpy(), frame["probability"].to_numpy()
    rows_of = rows_of_groups(frame["patient_id"].to_numpy())

    def auc(chosen: np.ndarray) -> float:
        rows = np.concatenate([rows_of[int(index)] for index in chosen])
        value = roc_auc(labels[rows], scores[rows])
        return np.nan if value is None else value

    return auc, len(rows_of)


def _line(name: str, frame: pd.DataFrame, resamples: int, seed: int) -> str:
    labels, scores = frame["label"].to_numpy(), frame["probability"].to_numpy()
    interval = patient_bootstrap(frame["patient_id"].to_numpy(), lambda rows: {"auc": roc_auc(labels[rows],
                                                                                              scores[rows])},
                                 resamples, seed)["auc"]
    return (f"{name}: ROC-AUC {roc_auc(labels, scores):.3f} [{interval['low']:.3f}, {interval['high']:.3f}] "
            f"({len(frame)} images, {int(labels.sum())} fractured, {frame['patient_id'].nunique()} groups)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("test", type=Path, help="the run's reports/eval/predictions.csv")
    parser.add_argument("outside", type=Path, help="an outside set's predictions.csv")
    parser.add_argument("--region", help="only this region's films, in both sets")
    parser.add_argument("--resamples", type=int, default=2000)
    arguments = parser.parse_args()
    test = pd.read_csv(arguments.test, dtype={"patient_id": str})
    test = test[test["split"] == "test"]
    outside = pd.read_csv(arguments.outside, dtype={"patient_id": str})
    if arguments.region:
        test, outside = (frame[frame["region"] == arguments.region] for frame in (test, outside))
    where = f" in {arguments.region}" if arguments.region else ""
    for name, frame in (("test split", test), ("outside set", outside)):
        if frame["label"].nunique() < 2:
            sys.exit(f"domain_gap: the {name} has no films of both classes{where}; choose another --region")
    test_auc, test_groups = _auc_of_groups(test)
    outside_auc, outside_groups = _auc_of_groups(outside)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gap = bootstrap((np.arange(test_groups), np.arange(outside_groups)),
                        lambda mine, theirs: outside_auc(theirs) - test_auc(mine), n_resamples=arguments.resamples,
                        vectorized=False, method="BCa", rng=np.random.default_rng(1)).confidence_interval
    observed = roc_auc(outside["label"], outside["probability"]) - roc_auc(test["label"], test["probability"])
    suffix = f" ({arguments.region})" if arguments.region else ""
    print(_line("test split" + suffix, test, arguments.resamples, seed=1))
    print(_line("outside set" + suffix, outside, arguments.resamples, seed=2))
    print(f"gap (outside - test): {observed:+.3f} [{gap.low:+.3f}, {gap.high:+.3f}], independent group resamples, BCa")


if __name__ == "__main__":
    main()
