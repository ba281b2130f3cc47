"""Shortcuts: covariates that predict the label on their own, measured on the training split before training.

In FracAtlas only fractured films show orthopaedic hardware, so "metal means
fracture" scores well on a test split drawn from the same data and fails on
the films that matter. Each covariate (and the view) is scored on the
training split by the AUC of its levels' fracture rates, with an interval over
patient groups. A covariate is named a possible shortcut when
- it encodes the label: its one-label levels hold all of one class;
- a level of at least `MIN_CASES` training images holds one label only
  (hardware = 1): the test metrics are then also given without those images;
- or the lower end of its AUC's interval reaches `min_auc` (it predicts the
  label beyond doubt): the test metrics are then also given within its most
  common level (one aspect ratio, say), where it cannot help.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fracture.data.covariates import MIN_CASES, subgroup_levels
from fracture.evaluation.intervals import patient_bootstrap
from fracture.evaluation.metrics import roc_auc

RESAMPLES = 1000
LABEL, PURE, AUC = "encodes_label", "one_label_level", "high_auc"


def covariate_power(levels: pd.Series, labels: pd.Series, groups: pd.Series, seed: int, level: float) -> dict:
    """How well one covariate's levels alone rank fractured above normal training images."""
    labels = labels.to_numpy()
    score = levels.map(pd.Series(labels, index=levels.index).groupby(levels).mean()).to_numpy()
    interval = patient_bootstrap(groups.to_numpy(), lambda rows: {"auc": roc_auc(labels[rows], score[rows])},
                                 RESAMPLES, seed, level).get("auc", {})
    counts = pd.DataFrame({"level": levels.to_numpy(), "label": labels}).groupby("level")["label"].agg(["size", "sum"])
    return {"auc": roc_auc(labels, score), "ci": {"low": interval.get("low"), "high": interval.get("high")},
            "levels": {name: {"images": int(row["size"]), "fractured": int(row["sum"])}
                       for name, row in counts.iterrows()}}


def _finding(name: str, power: dict, min_auc: float) -> dict | None:
    levels = power["levels"]
    pure = sorted(level for level, counts in levels.items()
                  if counts["images"] >= MIN_CASES and counts["fractured"] in (0, counts["images"]))
    rest = [counts for level, counts in levels.items() if level not in pure]
    fractured, images = sum(c["fractured"] for c in rest), sum(c["images"] for c in rest)
    if pure and fractured in (0, images):
        return {"kind": LABEL, "reason": "its one-label levels hold every image of a class: it encodes the label; "
                                         "leave it out of the data", "text": None}
    if pure:
        held = "; ".join(f"{name} = {level}: {levels[level]['images']} training images, "
                         f"{'all' if levels[level]['fractured'] else 'none'} fractured" for level in pure)
        return {"kind": PURE, "without": pure, "reason": held, "text": f"without {name} = {', '.join(pure)}"}
    low = power["ci"]["low"]
    if low is not None and low >= min_auc:
        common = max(levels, key=lambda level: levels[level]["images"])
        return {"kind": AUC, "within": common, "text": f"within {name} = {common}",
                "reason": f"its levels alone rank the training images at AUC {power['auc']:.3f} "
                          f"[{low:.3f}, {power['ci']['high']:.3f}]"}
    return None


def shortcut_check(manifest: pd.DataFrame, min_auc: float, seed: int, level: float = 0.95, scored=None) -> dict:
    """Each subgroup covariate's power on the `scored` rows (default: the training split), and the ones named as
    possible shortcuts."""
    levels = subgroup_levels(manifest)
    train = manifest["split"] == "train" if scored is None else scored
    covariates = {}
    for name in levels.columns:
        power = covariate_power(levels.loc[train, name], manifest.loc[train, "label"],
                                manifest.loc[train, "patient_id"], seed, level)
        covariates[name] = {**power, "shortcut": _finding(name, power, min_auc)}
    return {"min_auc": min_auc, "min_cases": MIN_CASES, "covariates": covariates}


def kept_rows(levels: pd.DataFrame, finding: dict) -> np.ndarray:
    """Which rows a finding's restriction keeps: those without its one-label levels, or within its common level."""
    column = levels[finding["covariate"]]
    if finding["kind"] == PURE:
        return ~column.isin(finding["without"]).to_numpy()
    return (column == finding["within"]).to_numpy()


def findings(check: dict) -> list[dict]:
    """The shortcuts a check named, each with its covariate."""
    return [{"covariate": name, **found["shortcut"]} for name, found in check.get("covariates", {}).items()
            if found.get("shortcut")]
