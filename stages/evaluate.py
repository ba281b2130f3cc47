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
from fracture.evaluation import (
    Task,
    calibration_points,
    confusion_rows,
    evaluate_config,
    pr_points,
    predictions_frame,
    region_metrics,
    roc_points,
    split_metrics,
)
from fracture.explain import cam_maps, cam_overlays, outlined, overlays, pick_examples
from fracture.grouping import has_studies
from fracture.localisation import film_boxes, image_scores, localisation_report, with_localisation
from fracture.params import load_params
from fracture.preprocessing import ANNOTATIONS_FILE
from fracture.shortcuts import findings
from fracture.storage import atomic_path, read_json, write_json
from fracture.subgroups import chosen, prediction_levels, shortcut_metrics, subgroup_metrics
from fracture.training.checkpoint import load_checkpoint
from fracture.training.config import resolve_device
from fracture.training.data import load_split, read_processed_manifest
from fracture.training.loop import predict_probabilities

log = logging.getLogger("stages.evaluate")

PROCESSED = Path("data/processed")
MODEL = Path("models/model.pt")
SPLIT_REPORT = Path("reports/split.json")
OUT = Path("reports/eval")
CAM_BATCH = 32


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as temporary:
        frame.to_csv(temporary, index=False, float_format="%.6g")


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


def localise(model, data, predictions, preprocessing, device, config) -> tuple[dict | None, dict, list[np.ndarray]]:
    """Where the fracture-class Grad-CAM of each annotated fractured test image falls, against its annotations and
    its film's place in the square: the summary, each image's scores, and the first few of them (by image id)
    drawn with their outlines."""
    annotations = read_json(PROCESSED / ANNOTATIONS_FILE) if (PROCESSED / ANNOTATIONS_FILE).is_file() else {}
    fractured = predictions[(predictions["label"] == 1) & predictions["image_id"].isin(list(annotations))]
    if fractured.empty:
        return None, {}, []
    scores, gallery, films = {}, [], film_boxes(data.rows, preprocessing)
    for start in range(0, len(fractured), CAM_BATCH):
        batch = fractured.iloc[start:start + CAM_BATCH]
        images = data.images[torch.as_tensor(batch.index.to_numpy(copy=True))]
        heat = cam_maps(model, images, preprocessing.normalization, [1] * len(batch), device)
        scores.update((image_id, image_scores(one, annotations[image_id], films.get(image_id)))
                      for image_id, one in zip(batch["image_id"], heat))
        shown = max(0, 2 * config.cam_examples - len(gallery))
        gallery += [outlined(overlay, annotations[image_id]) for overlay, image_id in
                    zip(overlays(images[:shown], heat[:shown]), batch["image_id"][:shown])]
    report = localisation_report(predictions, scores, data.images.shape[-1], config.resamples, config.seed,
                                 config.ci_level)
    return report, scores, gallery


def subgroups(test, manifest, task, config) -> tuple[dict, dict]:
    """Test metrics per subgroup, and under each shortcut the split stage named on the training split."""
    levels = prediction_levels(manifest, test)
    found = findings(read_json(SPLIT_REPORT).get("shortcuts", {}))
    return (subgroup_metrics(test, chosen(levels, config.subgroups, manifest), task, config),
            shortcut_metrics(test, levels, found, task, config))


def main() -> None:
    config = evaluate_config(load_params())
    device = resolve_device("auto")
    model, metadata = load_checkpoint(MODEL, device)
    thresholds = metadata.thresholds
    task = Task(metadata.task, metadata.classes, thresholds.image, thresholds.study)
    regions = metadata.classes if not task.binary else None
    normalization = metadata.preprocessing.normalization
    manifest = read_processed_manifest(PROCESSED)
    studies = has_studies(manifest)
    metrics = {"task": task.name, "threshold": task.threshold, "study_threshold": task.study_threshold,
               "threshold_method": thresholds.method, "target_sensitivity": thresholds.target_sensitivity,
               "has_studies": studies}
    frames, splits = {}, {}
    for split in ("val", "test"):
        data = splits[split] = load_split(PROCESSED, split, regions)
        frames[split] = predictions_frame(data.rows, predict_probabilities(model, data.images, normalization,
                                                                          device).numpy(), task)
        metrics[split] = split_metrics(frames[split], task, config, with_ci=split == "test", studies=studies)
    test = frames["test"]
    metrics["test_by_region"] = region_metrics(test, task, config)
    calibration, metrics["test"]["image"]["ece"] = calibration_points(test, task, config.calibration_bins)
    metrics["localisation"], scores, annotated = localise(model, splits["test"], test, metadata.preprocessing,
                                                          device, config) if task.binary else (None, {}, [])
    if task.binary:
        metrics["test_by_subgroup"], metrics["shortcuts"] = subgroups(test, manifest, task, config)
    frames["test"] = with_localisation(test, scores)
    write_csv(pd.concat(frames.values()), OUT / "predictions.csv")
    write_csv(roc_points(test, task), OUT / "plots" / "roc.csv")
    write_csv(pr_points(test, task), OUT / "plots" / "pr.csv")
    write_csv(confusion_rows(test, task), OUT / "plots" / "confusion.csv")
    write_csv(calibration, OUT / "plots" / "calibration.csv")
    write_json(OUT / "metrics.json", metrics)
    save_gradcam(model, splits["test"], test, task, normalization, device, config.cam_examples, annotated)
    image = metrics["test"]["image"]
    log.info(f"evaluate: test AUC {image['auc']:.4f}"
             + (f", sensitivity {image['sensitivity']:.4f}, specificity {image['specificity']:.4f} at threshold "
                f"{task.threshold:.4f}" if task.binary else f", accuracy {image['accuracy']:.4f}"))


if __name__ == "__main__":
    run_stage(main)
