"""A recommendation confirmed on films that did not choose it: the search's choice, cross-validated over its folds.

A recipe picked as the best of several on the pooled films that then report
its AUC carries the winner's curse: the pick favours whichever recipe the
noise of those films favoured, so its figure is optimistic. Here, for each
fold, the recipe is chosen as the search chooses it (the best seed-mean
pooled AUC) on the other folds' films only, and scored on that fold's films,
which took no part in the choice; the mean over the folds is the confirmation
figure, beside the reference recipe's on the same folds. The choice is made
again in every bootstrap draw, so the interval counts how unstable it is.
What this does not remove: a fold's model was trained on the films that chose
for the other folds, as in any cross-validation; a confirmation part set aside
before the search would remove that too.
"""

from __future__ import annotations

import math
import statistics

import numpy as np

from fracture.comparison.experiments import Experiment
from fracture.evaluation.intervals import patient_bootstrap, wald_p_value
from fracture.evaluation.metrics import roc_auc


def recipe_name(runs: list[Experiment]) -> str:
    return ", ".join(run.name for run in runs)


def confirm_choice(recipes: list[list[Experiment]], reference: Experiment, resamples: int, seed: int,
                   level: float) -> dict | None:
    """The per-fold choice among `recipes` (each its runs over seeds, pooled over the same folds), scored on the
    fold that did not choose it, against the reference's recipe on the same folds; None without two recipes."""
    own = next((index for index, runs in enumerate(recipes) if reference in runs), None)
    if own is None or len(recipes) < 2 or not reference.folds:
        return None
    frames = {run.name: run.test().sort_values("image_id").reset_index(drop=True) for runs in recipes for run in runs}
    first = frames[reference.name]
    labels, fold_of = first["label"].to_numpy(), first["fold"].to_numpy()
    scores = {name: frame["probability"].to_numpy() for name, frame in frames.items()}
    folds = sorted(set(fold_of))

    def recipe_auc(index: int, rows: np.ndarray) -> float | None:
        aucs = [roc_auc(labels[rows], scores[run.name][rows]) for run in recipes[index]]
        return None if None in aucs else statistics.fmean(aucs)

    def choices(rows: np.ndarray) -> list[int] | None:
        picked = []
        for fold in folds:
            search = [recipe_auc(index, rows[fold_of[rows] != fold]) for index in range(len(recipes))]
            if None in search:
                return None
            picked.append(int(np.argmax(search)))
        return picked

    def confirmed(rows: np.ndarray) -> dict:
        picked = choices(rows)
        if picked is None:
            return {}
        mine = [recipe_auc(choice, rows[fold_of[rows] == fold]) for choice, fold in zip(picked, folds)]
        theirs = [recipe_auc(own, rows[fold_of[rows] == fold]) for fold in folds]
        if None in mine or None in theirs:
            return {}
        return {"auc": statistics.fmean(mine), "reference_auc": statistics.fmean(theirs),
                "difference": statistics.fmean(mine) - statistics.fmean(theirs)}

    everything = np.arange(len(labels))
    observed = confirmed(everything)
    if not observed:
        return None
    intervals = patient_bootstrap(first["patient_id"].to_numpy(), confirmed, resamples, seed, level,
                                  unbounded=("difference",))
    pooled = [recipe_auc(index, everything) for index in range(len(recipes))]
    winner = int(np.argmax(pooled))
    names = [recipe_name(runs) for runs in recipes]
    empty = {"low": math.nan, "high": math.nan, "se": None}

    def estimate(key: str) -> dict:
        found = intervals.get(key, empty)
        return {"value": observed[key], "low": found["low"], "high": found["high"]}

    difference = intervals.get("difference", empty)
    return {
        "recipes": names, "reference": names[own], "winner": names[winner],
        "search_auc": pooled[winner],
        "search_mean_fold_auc": statistics.fmean(recipe_auc(winner, everything[fold_of == fold]) for fold in folds),
        "chosen": {str(fold): names[choice] for fold, choice in zip(folds, choices(everything))},
        "confirmed_auc": estimate("auc"), "reference_auc": estimate("reference_auc"),
        "difference": {"difference": observed["difference"], "low": difference["low"], "high": difference["high"],
                       "p_value": wald_p_value(observed["difference"], difference["se"])},
    }
