"""Stage evaluate: test metrics with patient-bootstrap CIs, per region and subgroup and under each shortcut the split
stage named, calibration, curves, Grad-CAM (scored against the annotators' boxes where the data has them),
predictions."""

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from fracture.errors import run_stage
from fracture.evaluation import Task, evaluate_config, split_metrics
from fracture.explain import cam_overlays, pick_examples
from fracture.grouping import has_studies
from fracture.inference.checkpoint import load_checkpoint
from fracture.inference.device import resolve_device
from fracture.measurement import LabelledSet, measure, scored_predictions
from fracture.params import load_params
from fracture.preprocessing import ANNOTATIONS_FILE
from fracture.processed import load_split, read_processed_manifest
from fracture.shortcuts import findings
from fracture.storage import atomic_path, read_json, write_csv, write_json

log = logging.getLogger("stages.evaluate")

PROCESSED = Path("data/processed")
MODEL = Path("models/model.pt")
SPLIT_REPORT = Path("reports/split.json")
OUT = Path("reports/eval")


def save_gradcam(model, data, predictions, task, normalization, device, per_outcome, annotated) -> None:
    """Overlays for the most confident examples of each outcome, and the `annotated` ones with their outlines, in
    reports/eval/gradcam/."""
    with atomic_path(OUT / "gradcam", directory=True) as folder:
        for rank, overlay in enumerate(annotated):
            Image.fromarray(overlay).save(folder / f"annotated_{rank + 1}.png")
        for outcome, rows in pick_examples(predictions, per_outcome, task).items():
            if rows.empty:
                continue
            index = torch.as_tensor(rows.index.to_numpy(copy=True))
            targets = [1] * len(rows) if task.binary else np.argmax(
                rows[task.probability_columns].to_numpy(), axis=1).tolist()
            for rank, overlay in enumerate(cam_overlays(model, data.images[index], normalization, targets, device)):
                Image.fromarray(overlay).save(folder / f"{outcome}_{rank + 1}.png")


def main() -> None:
    config = evaluate_config(load_params())
    device = resolve_device("auto")
    model, metadata = load_checkpoint(MODEL, device)
    thresholds, preprocessing = metadata.thresholds, metadata.preprocessing
    task = Task(metadata.task, metadata.classes, thresholds.image, thresholds.study)
    regions = metadata.classes if not task.binary else None
    manifest = read_processed_manifest(PROCESSED)
    studies = has_studies(manifest)
    annotations = read_json(PROCESSED / ANNOTATIONS_FILE) if (PROCESSED / ANNOTATIONS_FILE).is_file() else {}
    val, test = load_split(PROCESSED, "val", regions), load_split(PROCESSED, "test", regions)
    val_predictions = scored_predictions(model, LabelledSet(val.images, val.rows, manifest), preprocessing, task,
                                         device)
    measured = measure(model, LabelledSet(test.images, test.rows, manifest, annotations, studies), preprocessing,
                       task, findings(read_json(SPLIT_REPORT).get("shortcuts", {})), config, device)
    metrics = {"task": task.name, "threshold": task.threshold, "study_threshold": task.study_threshold,
               "threshold_method": thresholds.method, "target_sensitivity": thresholds.target_sensitivity,
               "has_studies": studies, "val": split_metrics(val_predictions, task, config, with_ci=False,
                                                            studies=studies),
               "test": measured.metrics["set"], "test_by_region": measured.metrics["by_region"],
               "localisation": measured.metrics["localisation"]}
    if task.binary:
        metrics["test_by_subgroup"], metrics["shortcuts"] = (measured.metrics["by_subgroup"],
                                                             measured.metrics["shortcuts"])
    write_csv(pd.concat([val_predictions, measured.predictions]), OUT / "predictions.csv")
    for name, curve in measured.curves.items():
        write_csv(curve, OUT / "plots" / f"{name}.csv")
    write_json(OUT / "metrics.json", metrics)
    save_gradcam(model, test, measured.predictions, task, preprocessing.normalization, device, config.cam_examples,
                 measured.gallery)
    image = metrics["test"]["image"]
    log.info(f"evaluate: test AUC {image['auc']:.4f}"
             + (f", sensitivity {image['sensitivity']:.4f}, specificity {image['specificity']:.4f} at threshold "
                f"{task.threshold:.4f}" if task.binary else f", accuracy {image['accuracy']:.4f}"))


if __name__ == "__main__":
    run_stage(main)
