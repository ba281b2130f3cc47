"""The folds of a cross-validation pooled into one out-of-fold result per recipe.

Experiments whose params differ only in `split.fold` are the folds of one
recipe. Pooled, every image is tested exactly once, each by the model that
never saw its group, so the recipe is scored on the whole data set rather than
on one test split. Each fold keeps its own frozen thresholds for sensitivity
and specificity; the AUC ranks the pooled probabilities of the K models, the
usual out-of-fold estimate, which the comparison's differences use. It also
pays for any difference in scale between the folds' models, so each fold's
own AUC and their mean are kept beside it: a pooled AUC well below the mean says the
folds' models are calibrated differently. Folds are pooled only if they come from one deal (the
same data, seed and K), all K are there, and their test splits partition the
data; anything else is refused in one line.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd

from fracture.comparison.experiments import Experiment
from fracture.core.errors import UserError
from fracture.evaluation.detection import detection_report
from fracture.evaluation.intervals import patient_bootstrap
from fracture.evaluation.metrics import roc_auc

FOLD_PARAM = "split.fold"
POOLED = "all"  # the value of split.fold in a pooled result's params


def _recipe(experiment: Experiment) -> str:
    return repr(sorted((key, repr(value)) for key, value in experiment.params.items() if key != FOLD_PARAM))


def _stem(names: list[str]) -> str:
    """cv-base-f0, cv-base-f1 ... -> cv-base; DVC's own names -> the first fold's, with the count of the others."""
    stems = {re.sub(r"-f\d+$", "", name) for name in names}
    return stems.pop() if len(stems) == 1 and not any(stem in names for stem in stems) else \
        f"{names[0]} +{len(names) - 1} folds"


def image_scores(test: pd.DataFrame, resamples: int, seed: int, level: float) -> dict:
    """AUC, and sensitivity and specificity at each row's own frozen decision, with intervals over groups."""
    labels, predicted = test["label"].to_numpy(), test["predicted"].to_numpy()
    probabilities = test["probability"].to_numpy()

    def scores(rows: np.ndarray) -> dict:
        positive = labels[rows] == 1
        values = {"auc": roc_auc(labels[rows], probabilities[rows])}
        if positive.any():
            values["sensitivity"] = float(predicted[rows][positive].mean())
        if (~positive).any():
            values["specificity"] = float(1 - predicted[rows][~positive].mean())
        return {key: value for key, value in values.items() if value is not None}

    positive = labels == 1
    counts = {"sensitivity": (int(predicted[positive].sum()), int(positive.sum())),
              "specificity": (int((1 - predicted[~positive]).sum()), int((~positive).sum()))}
    result = scores(np.arange(len(test)))
    result["ci"] = {key: {"low": interval["low"], "high": interval["high"], "method": interval["method"]}
                    for key, interval in patient_bootstrap(test["patient_id"].to_numpy(), scores, resamples, seed,
                                                           level, counts).items()}
    return result


def hit_column(frame: pd.DataFrame) -> str | None:
    """The column of a model's own explanation's pointing-game hits: its fracture map's, else its Grad-CAM's."""
    return next((column for column in ("map_hit", "cam_hit") if column in frame and frame[column].notna().any()),
                None)


def _pointing_game(test: pd.DataFrame, resamples: int, seed: int, level: float) -> dict:
    """The pooled share of annotated fractured films whose explanation (map, else Grad-CAM) peaks in a box, and the
    centred chance map's, each with its interval over groups."""
    column = hit_column(test)
    if column is None:
        return {}
    scored = test[test[column].notna()]
    rates = {"hit": scored[column].to_numpy(dtype=float)}
    chance = column.replace("_hit", "_chance_hit")
    if chance in scored and scored[chance].notna().all():
        rates["chance_hit"] = scored[chance].to_numpy(dtype=float)
    intervals = patient_bootstrap(scored["patient_id"].to_numpy(),
                                  lambda rows: {key: float(hits[rows].mean()) for key, hits in rates.items()},
                                  resamples, seed, level,
                                  {key: (int(hits.sum()), len(hits)) for key, hits in rates.items()})
    ends = ("low", "high", "method")
    return {"source": column.removesuffix("_hit"), "annotated": {
        key: {"value": float(hits.mean()), **{end: intervals.get(key, {}).get(end) for end in ends},
              "images": len(hits)} for key, hits in rates.items()}}


def map_boxes(test: pd.DataFrame) -> tuple[dict, dict] | None:
    """The annotators' boxes (image id: annotations) and the map's (image id: boxes with scores) of the test films,
    where the model has a map."""
    if "map_boxes" not in test or not test["map_boxes"].notna().all():
        return None
    truth = {image_id: [{"box": box} for box in json.loads(boxes)]
             for image_id, boxes in zip(test["image_id"], test["truth_boxes"]) if json.loads(boxes)}
    return truth, {image_id: json.loads(boxes) for image_id, boxes in zip(test["image_id"], test["map_boxes"])}


def _detection(test: pd.DataFrame, resamples: int, seed: int, level: float) -> dict | None:
    """The pooled films' map boxes scored as detections, where the folds' models have a map."""
    boxes = map_boxes(test)
    return None if boxes is None else detection_report(test, *boxes, resamples, seed, level)


def _check_pool(folds: list[Experiment]) -> None:
    names = ", ".join(fold.name for fold in folds)
    if len({fold.cross_validation["assignment_sha256"] for fold in folds}) > 1:
        raise UserError(f"compare: {names} differ only in split.fold but not all come from one fold deal "
                        f"(split.folds, data and base.seed); run every fold with the same params")
    expected = folds[0].cross_validation["folds"]
    numbers = sorted(fold.cross_validation["fold"] for fold in folds)
    if numbers != list(range(expected)):
        missing = sorted(set(range(expected)) - set(numbers))
        raise UserError(f"compare: {names} are folds {numbers} of {expected}"
                        f"{f'; fold(s) {missing} missing' if missing else '; a fold is repeated'}: "
                        f"run `dvc exp run -S split.folds={expected} -S split.fold=N` for each, or compare fewer")


def pool(folds: list[Experiment], resamples: int, seed: int, level: float, name: str | None = None) -> Experiment:
    """The K folds as one experiment whose test predictions are every image's out-of-fold prediction."""
    _check_pool(folds)
    ordered = sorted(folds, key=lambda fold: fold.cross_validation["fold"])
    test = pd.concat([fold.test().assign(fold=fold.cross_validation["fold"]) for fold in ordered],
                     ignore_index=True)
    images = ordered[0].cross_validation["images"]
    if not test["image_id"].is_unique or len(test) != images:
        raise UserError(f"compare: the test splits of {', '.join(fold.name for fold in ordered)} hold "
                        f"{test['image_id'].nunique()} distinct of {len(test)} rows, not the {images} images "
                        f"of the fold deal once each; run the folds again from one commit")
    image = image_scores(test, resamples, seed, level)
    image["folds"] = [{"fold": int(number), "images": len(rows), "abnormal": int(rows["label"].sum()),
                       "auc": roc_auc(rows["label"], rows["probability"])} for number, rows in test.groupby("fold")]
    defined = [fold["auc"] for fold in image["folds"] if fold["auc"] is not None]
    image["mean_fold_auc"] = float(np.mean(defined)) if len(defined) == len(image["folds"]) else None
    evaluation = {"task": "fracture", "threshold": None, "study_threshold": None, "has_studies": False,
                  "threshold_method": ordered[0].evaluation.get("threshold_method"),
                  "target_sensitivity": ordered[0].evaluation.get("target_sensitivity"),
                  "test": {"image": image},
                  "localisation": _pointing_game(test, resamples, seed, level),
                  "detection": _detection(test, resamples, seed, level)}
    seconds = [fold.train.get("train_seconds") for fold in ordered]
    train = {"train_seconds": sum(seconds) if None not in seconds else None, "best_epoch": None}
    params = ordered[0].params | {FOLD_PARAM: POOLED}
    return Experiment(name or _stem([fold.name for fold in ordered]), "", params, train, evaluation, test,
                      ordered[0].grouping, ordered[0].cross_validation | {"fold": POOLED}, tuple(ordered))


def pool_folds(experiments: list[Experiment], resamples: int, seed: int, level: float) -> list[Experiment]:
    """The experiments with the folds of each cross-validated recipe replaced by their pooled result; a recipe
    with one fold among them stays a single experiment, comparable with others run on the same fold."""
    recipes: dict[str, list[Experiment]] = {}
    for experiment in experiments:
        if experiment.cross_validation:
            recipes.setdefault(_recipe(experiment), []).append(experiment)
    lone = [members[0] for members in recipes.values() if len(members) == 1]
    recipes = {key: members for key, members in recipes.items() if len(members) > 1}
    if recipes and lone:
        fold = lone[0].cross_validation
        raise UserError(f"compare: {lone[0].name} is fold {fold['fold']} of {fold['folds']} without the other "
                        f"folds of its recipe, beside pooled recipes; compare every fold of each recipe, or one "
                        f"fold of each")
    pooled = {id(members[0]): pool(members, resamples, seed, level) for members in recipes.values()}
    folded = {id(member) for members in recipes.values() for member in members[1:]}
    return [pooled.get(id(experiment), experiment) for experiment in experiments if id(experiment) not in folded]
