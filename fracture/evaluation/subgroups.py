"""Test metrics per subgroup (hidden stratification) and without the films a shortcut could explain.

A headline AUC can hide a subgroup where the model fails (the hand films
behind a test split of legs) or come from a shortcut (metal means fracture).
Each subgroup level is scored like the whole test split, with intervals over
its patient groups, unless it holds fewer than `MIN_CASES` fractured or
normal images: then it is marked too small and given no interval, since one
drawn from a handful of films says nothing. Each shortcut that the split
stage named is scored on the test images its restriction keeps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fracture.core.errors import ParamError
from fracture.data.covariates import MIN_CASES, covariate_columns, name_of, subgroup_levels
from fracture.evaluation.scoring import EvaluateConfig, Task, scored
from fracture.evaluation.shortcuts import PURE, kept_rows


def prediction_levels(manifest: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """Each prediction's level of the view and of every covariate, cut over the whole manifest as the split stage
    cut them."""
    return subgroup_levels(manifest).set_index(manifest["image_id"]).loc[predictions["image_id"]].reset_index(
        drop=True)


def chosen(levels: pd.DataFrame, names: tuple[str, ...] | None, manifest: pd.DataFrame) -> pd.DataFrame:
    """The subgroup columns that `evaluate.subgroups` asks for (all of them for `auto`)."""
    if names is None:
        return levels
    known = ["view"] + [name_of(column) for column in covariate_columns(manifest)]
    for name in names:
        if name not in known:
            raise ParamError("evaluate.subgroups", name, f"not a column of this data; choose from: auto, "
                                                         f"{', '.join(known)}")
    return levels[[name for name in names if name in levels.columns]]


def _level_metrics(rows: pd.DataFrame, task: Task, config: EvaluateConfig) -> dict:
    positives = int(rows["label"].sum())
    too_small = min(positives, len(rows) - positives) < MIN_CASES
    return {**scored(rows, task, config, with_ci=not too_small), "too_small": too_small}


def subgroup_metrics(predictions: pd.DataFrame, levels: pd.DataFrame, task: Task, config: EvaluateConfig) -> dict:
    """Image metrics of the test predictions per level of each subgroup column."""
    predictions = predictions.reset_index(drop=True)
    return {name: {str(level): _level_metrics(rows, task, config)
                   for level, rows in predictions.groupby(levels[name].to_numpy())}
            for name in levels.columns}


def _restricted(rows: pd.DataFrame, task: Task, config: EvaluateConfig) -> dict | None:
    """Metrics on the rows a restriction keeps, or None where they no longer hold both classes."""
    return scored(rows, task, config, with_ci=True) if rows["label"].nunique() == 2 else None


def shortcut_metrics(predictions: pd.DataFrame, levels: pd.DataFrame, found: list[dict], task: Task,
                     config: EvaluateConfig) -> dict:
    """The test metrics under each named shortcut's restriction, and without every one-label level at once (the
    figure to quote beside the headline: for FracAtlas, AUC without films showing hardware)."""
    predictions = predictions.reset_index(drop=True)
    results = []
    for finding in found:
        entry = {key: finding[key] for key in ("covariate", "kind", "reason", "text")}
        if finding["text"]:
            entry["test"] = _restricted(predictions[kept_rows(levels, finding)], task, config)
        results.append(entry)
    pure = [finding for finding in found if finding["kind"] == PURE]
    without = None
    if pure:
        keep = np.logical_and.reduce([kept_rows(levels, finding) for finding in pure])
        without = {"text": "; ".join(finding["text"] for finding in pure),
                   "image": _restricted(predictions[keep], task, config)}
    return {"found": results, "without": without}
