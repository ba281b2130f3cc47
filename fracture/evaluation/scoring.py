"""Scoring a trained model on its validation and test predictions.

The fracture task's thresholds come from the checkpoint, where training
chose them on validation data, one for images and one for studies; here they
are only applied. Every test metric is reported per image and, where the data
has studies of several views, per study (mean of the views' probabilities),
with a bootstrap interval over patient groups (`intervals`; Wilson's for a proportion of
0 or 1 or over fewer than ten images), plus calibration
and, when several regions are present, a table per region. The region task
is scored as a multi-class problem.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve

from fracture.core.params import Section, seed
from fracture.evaluation.intervals import patient_bootstrap
from fracture.evaluation.metrics import (
    SIGNED,
    binary_metrics,
    calibration,
    multiclass_metrics,
    proportion_counts,
    study_level,
)

ROW_COLUMNS = ["image_id", "path", "patient_id", "study_id", "region", "split", "label"]


@dataclass(frozen=True)
class EvaluateConfig:
    resamples: int
    ci_level: float
    calibration_bins: int
    cam_examples: int
    seed: int
    subgroups: tuple[str, ...] | None = None  # None: the view and every covariate the data has


def evaluate_config(params: dict) -> EvaluateConfig:
    section = Section(params, "evaluate")
    subgroups = section.values.get("subgroups", "auto")
    if isinstance(subgroups, str) and subgroups != "auto":
        subgroups = [subgroups]
    if subgroups != "auto" and not (isinstance(subgroups, list) and all(isinstance(name, str) for name in subgroups)):
        raise section.fail("subgroups", "expected auto, or a list of columns such as [view, hardware]")
    return EvaluateConfig(
        resamples=section.integer("bootstrap_resamples", minimum=0),
        ci_level=section.number("ci_level", minimum=0.5, maximum=0.999),
        calibration_bins=section.integer("calibration_bins", minimum=2, maximum=100),
        cam_examples=section.integer("gradcam_examples", minimum=0, maximum=20),
        seed=seed(params),
        subgroups=None if subgroups == "auto" else tuple(subgroups),
    )


@dataclass(frozen=True)
class Task:
    """What the model predicts: `fracture` (binary, frozen thresholds) or `region` (multi-class)."""

    name: str
    classes: list[str]
    threshold: float | None = None
    study_threshold: float | None = None

    @property
    def binary(self) -> bool:
        return self.name == "fracture"

    @property
    def probability_columns(self) -> list[str]:
        return ["probability"] if self.binary else [f"p_{name}" for name in self.classes]

    def per_study(self) -> "Task":
        """The task as studies are scored: at the study threshold chosen on validation studies."""
        return replace(self, threshold=self.study_threshold) if self.binary else self

    def scores(self, labels: np.ndarray, probabilities: np.ndarray) -> dict:
        if self.binary:
            return binary_metrics(labels, probabilities[:, 0], self.threshold)
        return multiclass_metrics(labels, probabilities, self.classes)


def predictions_frame(rows: pd.DataFrame, probabilities: np.ndarray, task: Task) -> pd.DataFrame:
    """The rows with their probabilities and predictions (class names for the region task)."""
    frame = rows[ROW_COLUMNS].copy()
    if task.binary:
        frame["probability"] = probabilities[:, 1]
        frame["predicted"] = (frame["probability"] >= task.threshold).astype(int)
    else:
        for index, name in enumerate(task.classes):
            frame[f"p_{name}"] = probabilities[:, index]
        frame["actual"] = np.asarray(task.classes)[frame["label"].to_numpy()]
        frame["predicted"] = np.asarray(task.classes)[probabilities.argmax(axis=1)]
    return frame


def scored(frame: pd.DataFrame, task: Task, config: EvaluateConfig, with_ci: bool) -> dict:
    """The task's metrics on `frame`'s predictions, with intervals over its patient groups if asked."""
    labels = frame["label"].to_numpy()
    probabilities = frame[task.probability_columns].to_numpy()
    result = task.scores(labels, probabilities)
    if with_ci and config.resamples:
        result["ci"] = {key: {"low": interval["low"], "high": interval["high"], "method": interval["method"]}
                        for key, interval in patient_bootstrap(
                            frame["patient_id"].to_numpy(), lambda rows: task.scores(labels[rows], probabilities[rows]),
                            config.resamples, config.seed, config.ci_level, proportion_counts(result), SIGNED).items()}
    return result


def split_metrics(predictions: pd.DataFrame, task: Task, config: EvaluateConfig, with_ci: bool = True,
                  studies: bool = True) -> dict:
    """Image-level and, where the data has `studies`, study-level metrics of one split, each at its own
    frozen threshold, with intervals from resampling patient groups."""
    metrics = {"image": scored(predictions, task, config, with_ci)}
    if studies:
        metrics["study"] = scored(study_level(predictions, task.probability_columns), task.per_study(), config,
                                   with_ci)
    return metrics


def region_metrics(predictions: pd.DataFrame, task: Task, config: EvaluateConfig) -> dict:
    """Image-level fracture metrics per body region, where a region has both classes."""
    if not task.binary or predictions["region"].nunique() < 2:
        return {}
    return {region: scored(rows, task, config, with_ci=True)
            for region, rows in predictions.groupby("region") if rows["label"].nunique() == 2}


def _one_vs_rest(predictions: pd.DataFrame, task: Task) -> tuple[np.ndarray, np.ndarray]:
    """Binary labels and scores for the curves: the fracture probability, or micro-averaged classes."""
    if task.binary:
        return predictions["label"].to_numpy(), predictions["probability"].to_numpy()
    one_hot = np.eye(len(task.classes), dtype=int)[predictions["label"].to_numpy()]
    return one_hot.ravel(), predictions[task.probability_columns].to_numpy().ravel()


def roc_points(predictions: pd.DataFrame, task: Task) -> pd.DataFrame:
    fpr, tpr, thresholds = roc_curve(*_one_vs_rest(predictions, task), drop_intermediate=False)
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": np.minimum(thresholds, 1.0)})


def pr_points(predictions: pd.DataFrame, task: Task) -> pd.DataFrame:
    precision, recall, _ = precision_recall_curve(*_one_vs_rest(predictions, task))
    return pd.DataFrame({"recall": recall, "precision": precision})


def calibration_points(predictions: pd.DataFrame, task: Task, bins: int) -> tuple[pd.DataFrame, float | None]:
    """Reliability of P(abnormal), or of the top class's confidence for the region task."""
    if task.binary:
        return calibration(predictions["label"], predictions["probability"], bins)
    probabilities = predictions[task.probability_columns].to_numpy()
    correct = probabilities.argmax(axis=1) == predictions["label"].to_numpy()
    return calibration(correct, probabilities.max(axis=1), bins)


def confusion_rows(predictions: pd.DataFrame, task: Task) -> pd.DataFrame:
    """One row per image with its actual and predicted class name, as DVC's confusion template reads."""
    names = np.asarray(task.classes)
    predicted = predictions["predicted"].to_numpy()
    return pd.DataFrame({"actual": names[predictions["label"].to_numpy()],
                         "predicted": names[predicted] if task.binary else predicted})
