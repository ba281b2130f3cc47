"""Stage evaluate: test metrics with patient-bootstrap CIs, per region and subgroup and under each shortcut the split
stage named, calibration, curves, Grad-CAM (scored against the annotators' boxes where the data has them),
predictions."""

import logging

import numpy as np
import pandas as pd
import torch
from PIL import Image

from fracture.core.errors import run_stage
from fracture.core.params import load_params
from fracture.core.paths import EVAL_DIR, EVAL_METRICS, MODEL, PROCESSED, SPLIT_REPORT
from fracture.core.storage import atomic_path, read_json, write_csv, write_json
from fracture.data.grouping import has_studies
from fracture.data.processed import load_split, read_processed_manifest
from fracture.evaluation.examples import pick_examples
from fracture.evaluation.measurement import LabelledSet, measure, scored_predictions
from fracture.evaluation.scoring import Task, evaluate_config, split_metrics
from fracture.evaluation.shortcuts import findings
from fracture.imaging.preprocessing import ANNOTATIONS_FILE
from fracture.inference.device import resolve_device
from fracture.inference.gradcam import cam_overlays
from fracture.inference.loaded_model import LoadedModel

log = logging.getLogger("stages.evaluate")



def save_gradcam(model, data, predictions, task, per_outcome, annotated, mapped) -> None:
    """Overlays for the most confident examples of each outcome, and the `annotated` ones with their outlines (and
    the fracture map's, `mapped`), in reports/eval/gradcam/."""
    with atomic_path(EVAL_DIR / "gradcam", directory=True) as folder:
        for name, drawn in (("annotated", annotated), ("map", mapped)):
            for rank, overlay in enumerate(drawn):
                Image.fromarray(overlay).save(folder / f"{name}_{rank + 1}.png")
        for outcome, rows in pick_examples(predictions, per_outcome, task).items():
            if rows.empty:
                continue
            index = torch.as_tensor(rows.index.to_numpy(copy=True))
            targets = [1] * len(rows) if task.binary else np.argmax(
                rows[task.probability_columns].to_numpy(), axis=1).tolist()
            for rank, overlay in enumerate(cam_overlays(model.network, data.images[index], model.inputs, targets)):
                Image.fromarray(overlay).save(folder / f"{outcome}_{rank + 1}.png")


def main() -> None:
    config = evaluate_config(load_params())
    model = LoadedModel.load(MODEL, resolve_device("auto"))
    metadata = model.metadata
    thresholds = metadata.thresholds
    task = Task(metadata.task, metadata.classes, thresholds.image, thresholds.study)
    regions = metadata.classes if not task.binary else None
    manifest = read_processed_manifest(PROCESSED)
    studies = has_studies(manifest)
    annotations = read_json(PROCESSED / ANNOTATIONS_FILE) if (PROCESSED / ANNOTATIONS_FILE).is_file() else {}
    val, test = load_split(PROCESSED, "val", regions), load_split(PROCESSED, "test", regions)
    val_predictions = scored_predictions(model, LabelledSet(val.images, val.rows, manifest), task)
    measured = measure(model, LabelledSet(test.images, test.rows, manifest, annotations, studies), task,
                       findings(read_json(SPLIT_REPORT).get("shortcuts", {})), config)
    metrics = {"task": task.name, "threshold": task.threshold, "study_threshold": task.study_threshold,
               "threshold_method": thresholds.method, "target_sensitivity": thresholds.target_sensitivity,
               "has_studies": studies, "val": split_metrics(val_predictions, task, config, with_ci=False,
                                                            studies=studies),
               "test": measured.metrics["set"], "test_by_region": measured.metrics["by_region"],
               "localisation": measured.metrics["localisation"],
               "calibration": measured.metrics.get("calibration")}
    if model.has_map:
        metrics["map_localisation"], metrics["detection"] = (measured.metrics["map_localisation"],
                                                             measured.metrics["detection"])
    if task.binary:
        metrics["test_by_subgroup"], metrics["shortcuts"] = (measured.metrics["by_subgroup"],
                                                             measured.metrics["shortcuts"])
    write_csv(pd.concat([val_predictions, measured.predictions]), EVAL_DIR / "predictions.csv")
    for name, curve in measured.curves.items():
        write_csv(curve, EVAL_DIR / "plots" / f"{name}.csv")
    write_json(EVAL_METRICS, metrics)
    save_gradcam(model, test, measured.predictions, task, config.cam_examples, measured.gallery, measured.map_gallery)
    image = metrics["test"]["image"]
    log.info(f"evaluate: test AUC {image['auc']:.4f}"
             + (f", sensitivity {image['sensitivity']:.4f}, specificity {image['specificity']:.4f} at threshold "
                f"{task.threshold:.4f}" if task.binary else f", accuracy {image['accuracy']:.4f}"))


if __name__ == "__main__":
    run_stage(main)
