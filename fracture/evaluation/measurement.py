"""Measuring a trained model on one labelled set: the statistics the test split gets, for any set.

The test split and every outside set (`evaluate.external`, `python -m
fracture validate`) go through `measure`, so their numbers mean the same
thing: image and study metrics at the thresholds frozen on validation with
intervals over the set's own patient groups, per region, calibration, the
curves, metrics per subgroup and under each shortcut, and, where the set has
the annotators' boxes, where the model's Grad-CAM falls, and for a fracture
map model where its map peaks and how its boxes score as detections.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from fracture.evaluation.detection import detection_report
from fracture.evaluation.examples import boxed, outlined
from fracture.evaluation.intervals import patient_bootstrap
from fracture.evaluation.localisation import film_boxes, image_scores, localisation_report, with_localisation
from fracture.evaluation.metrics import expected_calibration_error
from fracture.evaluation.scoring import (
    EvaluateConfig,
    Task,
    calibration_points,
    confusion_rows,
    pr_points,
    predictions_frame,
    region_metrics,
    roc_points,
    split_metrics,
)
from fracture.evaluation.subgroups import chosen, prediction_levels, shortcut_metrics, subgroup_metrics
from fracture.inference.gradcam import cam_maps, overlays
from fracture.inference.loaded_model import LoadedModel
from fracture.inference.map_boxes import map_boxes, sigmoid
from fracture.inference.predictor import Calibration

CAM_BATCH = 32


@dataclass(frozen=True)
class LabelledSet:
    """Images as the model sees them (uint8, n x 1 x size x size) with their manifest rows (covariates included),
    the manifest their subgroup levels are cut over, and their annotations in model-input pixels by image id."""

    images: torch.Tensor
    rows: pd.DataFrame
    levels_from: pd.DataFrame
    annotations: dict = field(default_factory=dict)
    studies: bool = False


@dataclass(frozen=True)
class Measurement:
    metrics: dict
    predictions: pd.DataFrame
    curves: dict[str, pd.DataFrame]
    gallery: list[np.ndarray]
    map_gallery: list[np.ndarray] = field(default_factory=list)
    boxes: dict[str, list[dict]] = field(default_factory=dict)  # the map's boxes of each film, in input pixels


def localise(model: LoadedModel, labelled: LabelledSet, predictions: pd.DataFrame,
             config: EvaluateConfig) -> tuple[dict | None, dict, list[np.ndarray]]:
    """Where the fracture-class Grad-CAM of each annotated fractured image falls, against its annotations and its
    film's place in the square: the summary, each image's scores, and the first few (by image id) drawn with their
    outlines."""
    annotations = labelled.annotations
    fractured = predictions[(predictions["label"] == 1) & predictions["image_id"].isin(list(annotations))]
    if fractured.empty:
        return None, {}, []
    scores, gallery, films = {}, [], film_boxes(labelled.rows, model.preprocessing)
    for start in range(0, len(fractured), CAM_BATCH):
        batch = fractured.iloc[start:start + CAM_BATCH]
        images = labelled.images[torch.as_tensor(batch.index.to_numpy(copy=True))]
        heat = cam_maps(model.network, images, model.inputs, [1] * len(batch))
        scores.update((image_id, image_scores(one, annotations[image_id], films.get(image_id)))
                      for image_id, one in zip(batch["image_id"], heat))
        shown = max(0, 2 * config.cam_examples - len(gallery))
        gallery += [outlined(overlay, annotations[image_id]) for overlay, image_id in
                    zip(overlays(images[:shown], heat[:shown]), batch["image_id"][:shown])]
    report = localisation_report(predictions, scores, labelled.images.shape[-1], config.resamples, config.seed,
                                 config.ci_level)
    return report, scores, gallery


def calibration_report(predictions: pd.DataFrame, fitted: Calibration, config: EvaluateConfig) -> dict:
    """The image ECE of the probabilities as reported (calibrated by `fitted`) and as the network gave them,
    each with its interval over patient groups, and their difference."""
    calibrated = predictions["probability"].to_numpy(dtype=float)
    raw = fitted.inverse().apply(torch.from_numpy(np.stack([1 - calibrated, calibrated], axis=1))).numpy()[:, 1]
    labels, bins = predictions["label"].to_numpy(), config.calibration_bins

    def eces(rows: np.ndarray) -> dict[str, float]:
        after = expected_calibration_error(labels[rows], calibrated[rows], bins)
        before = expected_calibration_error(labels[rows], raw[rows], bins)
        return {"ece": after, "ece_uncalibrated": before, "ece_change": after - before}

    intervals = patient_bootstrap(predictions["patient_id"].to_numpy(), eces, config.resamples, config.seed,
                                  config.ci_level, unbounded=("ece", "ece_uncalibrated", "ece_change"))
    whole = eces(np.arange(len(labels)))
    return {"temperature": fitted.temperature, "bias": fitted.bias,
            **{key: {"value": value, **{end: intervals.get(key, {}).get(end) for end in ("low", "high", "method")}}
               for key, value in whole.items()}}


def read_maps(model: LoadedModel, labelled: LabelledSet, predictions: pd.DataFrame,
              config: EvaluateConfig) -> tuple[dict, dict, list[np.ndarray], dict]:
    """A fracture map model's map of every film: where it peaks on the annotated fractured films (the summary and
    each film's scores, as `localise` gives Grad-CAM's), the first few drawn with their outlines, and each film's
    boxes."""
    annotations, films = labelled.annotations, film_boxes(labelled.rows, model.preprocessing)
    scores, gallery, boxes = {}, [], {}
    for start in range(0, len(predictions), CAM_BATCH):
        batch = predictions.iloc[start:start + CAM_BATCH]
        images = labelled.images[torch.as_tensor(batch.index.to_numpy(copy=True))]
        for image_id, label, image, film_map in zip(batch["image_id"], batch["label"], images,
                                                    model.maps(images[:, 0].numpy())):
            boxes[image_id], heat = map_boxes(film_map), film_map[0]
            if label == 1 and image_id in annotations:
                scores[image_id] = image_scores(heat, annotations[image_id], films.get(image_id))
                if len(gallery) < 2 * config.cam_examples:
                    gallery += [boxed(outlined(overlays(image[None], sigmoid(heat)[None])[0], annotations[image_id]),
                                      boxes[image_id])]
    report = localisation_report(predictions, scores, labelled.images.shape[-1], config.resamples, config.seed,
                                 config.ci_level) if scores else None
    return report, scores, gallery, boxes


def scored_predictions(model: LoadedModel, labelled: LabelledSet, task: Task) -> pd.DataFrame:
    return predictions_frame(labelled.rows, model.probabilities(labelled.images), task)


def measure(model: LoadedModel, labelled: LabelledSet, task: Task, shortcuts: list[dict],
            config: EvaluateConfig) -> Measurement:
    """Every statistic of one labelled set, `shortcuts` being the findings to score it under."""
    predictions = scored_predictions(model, labelled, task)
    metrics = {"set": split_metrics(predictions, task, config, with_ci=True, studies=labelled.studies),
               "by_region": region_metrics(predictions, task, config)}
    calibration, metrics["set"]["image"]["ece"] = calibration_points(predictions, task, config.calibration_bins)
    if task.binary:
        metrics["calibration"] = calibration_report(predictions, model.metadata.calibration, config)
    metrics["localisation"], scores, gallery = localise(model, labelled, predictions, config) if task.binary \
        else (None, {}, [])
    if task.binary:
        levels = prediction_levels(labelled.levels_from, predictions)
        metrics["by_subgroup"] = subgroup_metrics(predictions, chosen(levels, config.subgroups, labelled.levels_from),
                                                  task, config)
        metrics["shortcuts"] = shortcut_metrics(predictions, levels, shortcuts, task, config)
    curves = {"roc": roc_points(predictions, task), "pr": pr_points(predictions, task),
              "confusion": confusion_rows(predictions, task), "calibration": calibration}
    predictions, map_gallery, boxes = with_localisation(predictions, scores), [], {}
    if task.binary and model.has_map:
        metrics["map_localisation"], map_scores, map_gallery, boxes = read_maps(model, labelled, predictions, config)
        metrics["detection"] = detection_report(predictions, labelled.annotations, boxes, config.resamples,
                                                config.seed, config.ci_level)
        predictions = with_localisation(predictions, map_scores, "map").assign(
            map_boxes=[json.dumps(boxes[image_id]) for image_id in predictions["image_id"]],
            truth_boxes=[json.dumps([item["box"] for item in labelled.annotations.get(image_id, [])])
                         for image_id in predictions["image_id"]])  # so that compare can pool folds' detections
    return Measurement(metrics, predictions, curves, gallery, map_gallery, boxes)
