"""The comparison itself: one row per experiment, seed groups and their ensembles, paired differences.

Everything is computed from the experiments' own test predictions at their
own frozen thresholds. Experiments that differ only in `split.fold` are the
folds of a cross-validation, pooled first into one out-of-fold result per
recipe (`folds`). Experiments that differ only in `train.seed` are repeats
of one recipe: their spread is the run-to-run noise, and the mean of their
probabilities is an ensemble, scored as one more model with thresholds chosen
on the ensemble's validation probabilities (fold by fold, then pooled).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from fracture.comparison.estimates import table_estimates
from fracture.comparison.experiments import Experiment
from fracture.comparison.folds import hit_column, map_boxes, pool, pool_folds
from fracture.comparison.paired import clustered_mcnemar, holm, paired_auc_differences
from fracture.comparison.selection import confirm_choice
from fracture.core.errors import UserError
from fracture.evaluation.detection import detection_difference
from fracture.evaluation.intervals import patient_bootstrap
from fracture.evaluation.metrics import roc_auc, study_level
from fracture.evaluation.scoring import EvaluateConfig, Task, predictions_frame, split_metrics
from fracture.evaluation.thresholds import validation_thresholds

SEED_PARAM = "train.seed"
MIN_SEEDS = 3  # runs a side below which a recipe verdict is provisional
LEVELS = ("image", "study")
TESTED = ("auc", "sensitivity", "specificity")  # each comparison's metrics: with POINTING, the family Holm covers
POINTING = "pointing_game"  # the explanation's hit rate on annotated fractured test images, where both models have one


@dataclass(frozen=True)
class CompareConfig:
    resamples: int
    level: float
    seed: int
    calibration_bins: int = 10

    @classmethod
    def of(cls, experiment: Experiment) -> "CompareConfig":
        """The reference experiment's own evaluate settings, so its intervals match its report."""
        params = experiment.params
        return cls(int(params["evaluate.bootstrap_resamples"]), float(params["evaluate.ci_level"]),
                   int(params["base.seed"]), int(params["evaluate.calibration_bins"]))

    def evaluate_config(self) -> EvaluateConfig:
        return EvaluateConfig(self.resamples, self.level, self.calibration_bins, 0, self.seed)


def check_same_test_set(experiments: list[Experiment]) -> None:
    """Paired statistics need the same images with the same labels; refuse in one line otherwise."""
    def key(experiment: Experiment) -> pd.DataFrame:
        return experiment.test()[["image_id", "label"]].sort_values("image_id").reset_index(drop=True)

    first = experiments[0]
    for other in experiments[1:]:
        if not key(first).equals(key(other)):
            raise UserError(f"compare: experiments {first.name} and {other.name} were tested on different "
                            f"images or labels; compare only experiments that share the data, filter and "
                            f"split params")


def changed_params(experiments: list[Experiment]) -> dict[str, dict]:
    """Per experiment, the params whose value is not the same in all of them."""
    keys = sorted({key for experiment in experiments for key in experiment.params})
    varying = [key for key in keys if len({repr(experiment.params.get(key)) for experiment in experiments}) > 1]
    return {experiment.name: {key: experiment.params.get(key) for key in varying} for experiment in experiments}


def seed_groups(experiments: list[Experiment]) -> list[list[Experiment]]:
    """Groups of two or more experiments whose params differ in `train.seed` only."""
    groups: dict[str, list[Experiment]] = {}
    for experiment in experiments:
        recipe = repr(sorted((key, repr(value)) for key, value in experiment.params.items() if key != SEED_PARAM))
        groups.setdefault(recipe, []).append(experiment)
    return [members for members in groups.values() if len(members) > 1]


def ensemble(members: list[Experiment], config: CompareConfig) -> Experiment:
    """The members' mean probability as one model, thresholds chosen on its validation probabilities."""
    first = members[0]
    if first.folds:
        per_fold = [ensemble([member.folds[number] for member in members], config)
                    for number in range(len(first.folds))]
        return pool(per_fold, config.resamples, config.seed, config.level,
                    name=f"ensemble of {', '.join(member.name for member in members)}")
    frames = [member.predictions.set_index("image_id") for member in members]
    probability = sum(frame["probability"] for frame in frames) / len(frames)
    own = ["probability", "predicted"] + [column for column in frames[0].columns
                                          if column.startswith(("cam_", "map_", "truth_"))]
    rows = frames[0].drop(columns=own).assign(probability=probability).reset_index()  # an ensemble has no Grad-CAM
    studies = bool(first.evaluation.get("has_studies"))
    method = first.evaluation.get("threshold_method") or "youden"
    target = first.evaluation.get("target_sensitivity") or 0.9
    image, study = validation_thresholds(rows[rows["split"] == "val"], method, target, studies)
    task = Task("fracture", ["normal", "abnormal"], image, study)
    probabilities = rows["probability"].to_numpy()
    predictions = predictions_frame(rows, np.stack([1 - probabilities, probabilities], axis=1), task)
    test = predictions[predictions["split"] == "test"]
    metrics = split_metrics(test, task, config.evaluate_config(), studies=studies)
    evaluation = {"task": "fracture", "threshold": image, "study_threshold": study, "has_studies": studies,
                  "threshold_method": method, "test": metrics}
    name = f"ensemble of {', '.join(member.name for member in members)}"
    seeds = [member.params.get(SEED_PARAM) for member in members]
    return Experiment(name, "", first.params | {SEED_PARAM: seeds}, {}, evaluation, predictions, first.grouping,
                      first.cross_validation)


def _estimate(scores: dict, key: str) -> dict | None:
    """A metric with its interval, as metrics.json stores it."""
    if scores is None or scores.get(key) is None:
        return None
    interval = scores.get("ci", {}).get(key, {})
    return {"value": scores[key], "low": interval.get("low"), "high": interval.get("high"),
            "method": interval.get("method")}


def _localisation_and_shortcuts(evaluation: dict) -> dict:
    """The pointing-game hit rate on annotated fractured test images, and the AUC without the films of the
    shortcuts the split stage named (for FracAtlas: without hardware), where the experiment measured them."""
    annotated = (evaluation.get("map_localisation") or evaluation.get("localisation") or {}).get("annotated") or {}
    without = (evaluation.get("shortcuts") or {}).get("without") or {}
    return {"pointing_game": annotated.get("hit"), "chance_pointing_game": annotated.get("chance_hit"),
            "detection": evaluation.get("detection"),
            "auc_without_shortcuts": _estimate(without.get("image"), "auc"), "without_text": without.get("text")}


def summary_row(experiment: Experiment, changed: dict, config: CompareConfig) -> dict:
    """What the comparison table shows for one experiment (or ensemble): every number with its interval."""
    test = experiment.evaluation["test"]
    study = test.get("study")
    estimates = table_estimates(experiment.test(), config.resamples, config.seed, config.level,
                                config.calibration_bins)
    return {
        "name": experiment.name, "rev": experiment.rev, "changed": changed,
        "auc": _estimate(test["image"], "auc"), "study_auc": _estimate(study, "auc"), **estimates,
        "study_sensitivity": _estimate(study, "sensitivity"), "study_specificity": _estimate(study, "specificity"),
        "threshold": experiment.evaluation.get("threshold"),
        "best_epoch": experiment.train.get("best_epoch"), "train_seconds": experiment.train.get("train_seconds"),
        **_localisation_and_shortcuts(experiment.evaluation),
        "fold_aucs": [fold["auc"] for fold in test["image"].get("folds", [])],
        "mean_fold_auc": test["image"].get("mean_fold_auc"),
    }


def group_summary(members: list[Experiment]) -> dict:
    """Mean and sample standard deviation over a seed group's runs of each headline metric."""
    summary = {"members": [member.name for member in members],
               "seeds": [member.params.get(SEED_PARAM) for member in members]}
    for key, (level, metric) in {"auc": ("image", "auc"), "study_auc": ("study", "auc"),
                                 "sensitivity": ("image", "sensitivity"),
                                 "specificity": ("image", "specificity")}.items():
        values = [member.evaluation["test"].get(level, {}).get(metric) for member in members]
        if all(value is not None for value in values):
            summary[key] = {"mean": statistics.fmean(values), "sd": statistics.stdev(values)}
    return summary


def _scores_by_level(experiment: Experiment, level: str) -> pd.DataFrame:
    """Test labels, probabilities and frozen-threshold predictions per image, or per study."""
    test = experiment.test().sort_values("image_id").reset_index(drop=True)
    if level == "image":
        return test
    studies = study_level(test, ["probability"])
    return studies.assign(predicted=(studies["probability"] >= experiment.evaluation["study_threshold"]).astype(int))


def paired_differences(models: list[Experiment], reference: Experiment, config: CompareConfig,
                       level: str) -> list[dict]:
    """Delta ROC-AUC (bootstrap over patient groups, shared draws) and clustered McNemar tests of sensitivity and
    specificity against the reference."""
    frames = {model.name: _scores_by_level(model, level) for model in models}
    base = frames[reference.name]
    labels, groups = base["label"].to_numpy(), base["patient_id"].to_numpy()
    aucs = paired_auc_differences(labels, {name: frame["probability"].to_numpy() for name, frame in frames.items()},
                                  reference.name, groups, config.resamples, config.seed, config.level)
    positive = labels == 1
    hits_reference = base["predicted"].to_numpy() == labels
    results = []
    for name, auc in aucs.items():
        hits_other = frames[name]["predicted"].to_numpy() == labels
        sensitivity, specificity = (
            clustered_mcnemar(hits_reference[rows], hits_other[rows], groups[rows], config.level)
            for rows in (positive, ~positive))
        result = {"name": name, "level": level, "reference": reference.name, "auc": vars(auc),
                  "sensitivity": vars(sensitivity), "specificity": vars(specificity)}
        if level == "image" and hit_column(base) and hit_column(frames[name]):
            result[POINTING] = vars(paired_hits(base, frames[name], config))
        results.append(result)
    return results


def region_differences(models: list[Experiment], reference: Experiment, config: CompareConfig) -> list[dict]:
    """Per body region of the test set with both classes: each model's image AUC with its interval, and its paired
    difference from the reference on that region's images. Descriptive: outside the Holm family."""
    frames = {model.name: _scores_by_level(model, "image") for model in models}
    base = frames[reference.name]
    if base["region"].nunique() < 2:
        return []
    results = []
    for region, rows in base.groupby("region", sort=True):
        labels, groups = rows["label"].to_numpy(), rows["patient_id"].to_numpy()
        if len(set(labels)) < 2:
            continue
        scores = {name: frame["probability"].to_numpy()[rows.index] for name, frame in frames.items()}
        intervals = patient_bootstrap(groups, lambda draw: {name: roc_auc(labels[draw], values[draw])
                                                            for name, values in scores.items()},
                                      config.resamples, config.seed, config.level)
        aucs = {name: {"value": roc_auc(labels, values), "low": intervals.get(name, {}).get("low"),
                       "high": intervals.get(name, {}).get("high")} for name, values in scores.items()}
        differences = paired_auc_differences(labels, scores, reference.name, groups, config.resamples, config.seed,
                                             config.level)
        results.append({"region": region, "images": len(rows), "abnormal": int(labels.sum()),
                        "groups": int(len(set(groups))), "auc": aucs,
                        "differences": {name: vars(difference) for name, difference in differences.items()}})
    return results


def detection_differences(models: list[Experiment], reference: Experiment, config: CompareConfig) -> dict:
    """Each fracture map model's boxes against the reference's, or the first map model's where the reference has
    none, paired on the same films. Descriptive: outside the Holm family."""
    boxes = {model.name: map_boxes(model.test().sort_values("image_id").reset_index(drop=True)) for model in models}
    mapped = [model.name for model in models if boxes[model.name] is not None]
    if len(mapped) < 2 and reference.name not in mapped:
        return {}
    base = reference.name if reference.name in mapped else mapped[0]
    rows = reference.test().sort_values("image_id").reset_index(drop=True)
    results = [{"name": name, **detection_difference(rows, boxes[name], boxes[base], config.resamples, config.seed,
                                                      config.level)}
               for name in mapped if name != base]
    return {"reference": base, "differences": results} if results else {}


def paired_hits(reference: pd.DataFrame, other: pd.DataFrame, config: CompareConfig):
    """The change in pointing-game hit rate on the images both models' explanations (a fracture map where a model
    has one, else Grad-CAM) were scored on, by the clustered McNemar test: a hit is a paired yes/no per image, like
    a correct call."""
    mine, theirs = hit_column(reference), hit_column(other)
    both = reference[mine].notna().to_numpy() & other[theirs].notna().to_numpy()
    return clustered_mcnemar(reference[mine].to_numpy()[both], other[theirs].to_numpy()[both],
                             reference["patient_id"].to_numpy()[both], config.level)


def adjust_family(differences: list[dict], verdicts: list[dict]) -> None:
    """Holm over every test of the comparison (each model, level and metric, and each recipe verdict): adds `p_holm`
    to each."""
    tests = [result[metric] for result in differences for metric in TESTED + (POINTING,) if metric in result]
    tests += [verdict["auc"] for verdict in verdicts]
    for test, adjusted in zip(tests, holm([test["p_value"] for test in tests])):
        test["p_holm"] = adjusted


def flag_within_seed_spread(differences: list[dict], groups: list[dict]) -> None:
    """Mark image-level differences smaller than the spread of a difference between two runs of one recipe:
    the square root of 2 times the largest seed-group standard deviation of their metric."""
    for result in differences:
        for metric in TESTED:
            spreads = [group[metric]["sd"] for group in groups if metric in group] if result["level"] == "image" \
                else []
            spread = math.sqrt(2) * max(spreads) if spreads else None
            result[metric]["seed_sd"] = max(spreads) if spreads else None
            result[metric]["difference_sd"] = spread
            result[metric]["within_seed_spread"] = None if spread is None else bool(
                abs(result[metric]["difference"]) < spread)


def recipe_verdicts(groups: list[list[Experiment]], reference: Experiment, config: CompareConfig) -> list[dict]:
    """Each recipe run over seeds against the reference's recipe over its seeds: the difference of their seed-mean
    test AUCs, with the spread of the seeds counted.

    Its variance is that of the films (the patient-group bootstrap of the
    seed-mean difference, every run scored on the same draws) plus that of the
    seeds (each recipe's sample variance of its runs' AUCs over its number of
    runs); the interval and p come from Student's t with the Welch-Satterthwaite
    degrees of freedom of the seed terms. With fewer than MIN_SEEDS runs a side
    the verdict is marked provisional.
    """
    own = next((members for members in groups if reference in members), None)
    if own is None:
        return []
    return [_verdict(members, own, config) for members in groups if members is not own]


def _verdict(members: list[Experiment], own: list[Experiment], config: CompareConfig) -> dict:
    frames = {run.name: run.test().sort_values("image_id").reset_index(drop=True) for run in members + own}
    labels = frames[own[0].name]["label"].to_numpy()
    scores = {name: frame["probability"].to_numpy() for name, frame in frames.items()}

    def seed_mean(rows: np.ndarray, runs: list[Experiment]) -> float | None:
        aucs = [roc_auc(labels[rows], scores[run.name][rows]) for run in runs]
        return None if None in aucs else statistics.fmean(aucs)

    def difference(rows: np.ndarray) -> dict:
        mine, theirs = seed_mean(rows, members), seed_mean(rows, own)
        return {} if mine is None or theirs is None else {"auc": mine - theirs}

    observed = difference(np.arange(len(labels)))["auc"]
    films = patient_bootstrap(frames[own[0].name]["patient_id"].to_numpy(), difference, config.resamples,
                              config.seed, config.level, unbounded=("auc",)).get("auc", {})
    terms = [statistics.variance([roc_auc(labels, scores[run.name]) for run in runs]) / len(runs)
             for runs in (members, own)]
    seed_df = sum(term ** 2 / (len(runs) - 1) for term, runs in zip(terms, (members, own)))
    variance = (films.get("se") or 0.0) ** 2 + sum(terms)
    df = math.inf if seed_df == 0 else variance ** 2 / seed_df  # Welch-Satterthwaite; the films' part has no limit
    se = math.sqrt(variance)
    half = float(student_t.ppf(1 - (1 - config.level) / 2, df)) * se
    return {"name": ", ".join(run.name for run in members), "reference": ", ".join(run.name for run in own),
            "seeds": len(members), "reference_seeds": len(own),
            "auc": {"difference": observed, "low": observed - half, "high": observed + half,
                    "p_value": float(2 * student_t.sf(abs(observed) / se, df)) if se > 0 else math.nan,
                    "se_films": films.get("se"), "se_seeds": math.sqrt(sum(terms)), "df": df},
            "provisional": min(len(members), len(own)) < MIN_SEEDS}


def _pooled_folds(reference: Experiment) -> dict | None:
    if not reference.folds:
        return None
    deal = reference.cross_validation
    return {"folds": deal["folds"], "images": deal["images"], "fold_images": deal["fold_images"],
            "assignment_sha256": deal["assignment_sha256"]}


def _pooled(experiments: list[Experiment], config: CompareConfig,
            baseline: str | None) -> tuple[list[Experiment], Experiment]:
    """The experiments with each recipe's folds pooled under `config`, and the reference among them."""
    experiments = pool_folds(experiments, config.resamples, config.seed, config.level)
    check_same_test_set(experiments)
    names = [experiment.name for experiment in experiments]
    if baseline is not None and baseline not in names:
        raise UserError(f"compare: --baseline {baseline} is not among the compared experiments ({', '.join(names)})")
    return experiments, experiments[names.index(baseline) if baseline else 0]


def compare(experiments: list[Experiment], baseline: str | None = None) -> tuple[dict, list[Experiment]]:
    """The whole comparison as one JSON-able dict (rows, seed groups, paired differences, settings), and the
    models in the order of its rows: the experiments (the folds of a recipe pooled into one), then the
    ensembles of their seed groups."""
    first = CompareConfig.of(experiments[0])
    pooled, reference = _pooled(experiments, first, baseline)
    config = CompareConfig.of(reference)
    if config != first:  # every recipe's folds pooled with the reference's bootstrap settings, not the first's
        pooled, reference = _pooled(experiments, config, baseline)
    experiments = pooled
    changed = changed_params(experiments)
    groups = seed_groups(experiments)
    ensembles = [ensemble(members, config) for members in groups]
    rows = [summary_row(experiment, changed[experiment.name], config) for experiment in experiments]
    rows += [summary_row(combined, changed[members[0].name] | {SEED_PARAM: combined.params[SEED_PARAM]}, config)
             | {"ensemble": True} for combined, members in zip(ensembles, groups)]
    levels = LEVELS if reference.evaluation.get("has_studies") else LEVELS[:1]
    differences = [result for level in levels
                   for result in paired_differences(experiments + ensembles, reference, config, level)]
    verdicts = recipe_verdicts(groups, reference, config)
    recipes = groups + [[experiment] for experiment in experiments if not any(experiment in g for g in groups)]
    confirmation = confirm_choice(recipes, reference, config.resamples, config.seed, config.level)
    adjust_family(differences, verdicts + ([{"auc": confirmation["difference"]}] if confirmation else []))
    summaries = [group_summary(members) | {"ensemble": combined.name} for members, combined in zip(groups, ensembles)]
    flag_within_seed_spread(differences, summaries)
    test = reference.test()
    comparison = {"reference": reference.name, "rows": rows,
            "seed_groups": summaries,
            "differences": differences,
            "verdicts": verdicts,
            "confirmation": confirmation,
            "regions": region_differences(experiments + ensembles, reference, config),
            "detection_differences": detection_differences(experiments, reference, config),
            "cross_validation": _pooled_folds(reference),
            "settings": {"resamples": config.resamples, "ci_level": config.level, "seed": config.seed,
                         "calibration_bins": config.calibration_bins,
                         "test_images": len(test), "test_abnormal": int(test["label"].sum()),
                         "test_groups": int(test["patient_id"].nunique()), "unit": reference.grouping["unit"],
                         "unit_description": reference.grouping["description"], "levels": list(levels)}}
    return comparison, experiments + ensembles
