"""Stage train: one architecture (model.arch) on the processed arrays; best epoch by validation.

With train.gpus > 1 the stage relaunches itself under torchrun (DDP). A stage
stopped part way is resumed from its last epoch when run again with the same
params and data.
"""

import logging
import sys
from contextlib import nullcontext
from pathlib import Path

import torch

from fracture.errors import UserError, run_stage
from fracture.metrics import COLLAPSED_SPREAD, binary_metrics, output_spread, validation_thresholds
from fracture.models import build_model
from fracture.params import load_params
from fracture.storage import read_json
from fracture.training import distributed
from fracture.training.checkpoint import resume_fingerprint, save_checkpoint
from fracture.training.config import check_gpus, make_deterministic, resolve_device, train_config
from fracture.training.data import Normalization, load_split, read_processed_manifest
from fracture.training.live import log_epoch, open_live
from fracture.training.loop import fit, predict_probabilities

log = logging.getLogger("stages.train")

PROCESSED = Path("data/processed")
MODEL = Path("models/model.pt")
RESUME = Path("models/resume/train.pt")
LIVE_DIR = Path("reports/train")
FRACTURE_CLASSES = ["normal", "abnormal"]
IMAGENET_GREY = Normalization(mean=0.449, std=0.226)


def task_classes(task: str) -> tuple[list[str], list[str] | None]:
    """The class names, and for the region task the regions that are its classes."""
    if task == "fracture":
        return FRACTURE_CLASSES, None
    regions = sorted(read_processed_manifest(PROCESSED)["region"].unique())
    if len(regions) < 2:
        raise UserError(f"model.task = 'region' needs at least two regions, the data has {regions}; "
                        f"set filter.regions to [all] or a list")
    return regions, regions


def main() -> None:
    params = load_params()
    config = train_config(params)
    classes, regions = task_classes(config.task)
    if config.gpus > 1 and not distributed.under_torchrun():
        sys.exit(distributed.relaunch(config.gpus, "stages.train"))
    device = resolve_device(config.device, distributed.local_rank())
    check_gpus(config, device)
    ranks = distributed.start(device)
    make_deterministic(config.seed, device)
    train, val = load_split(PROCESSED, "train", regions), load_split(PROCESSED, "val", regions)
    normalization = IMAGENET_GREY if config.pretrained else Normalization.of(train.images)
    model = build_model(config.arch, len(classes), config.pretrained, config.width).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    log.info(f"train: {config.arch} ({config.task}) on {device} x {ranks.world}, "
             f"{len(train)} train / {len(val)} val images")

    with open_live(LIVE_DIR) if ranks.main else nullcontext() as live:
        result = fit(model, train, val, normalization, len(classes), config, device,
                     (lambda epoch: log_epoch(live, epoch)) if live else (lambda epoch: None),
                     resume=(RESUME, resume_fingerprint(params, PROCESSED)))
        if ranks.main:
            model.load_state_dict(result.best_state)
            summary = {"best_epoch": result.best_epoch, "epochs_run": len(result.history),
                       "stopped_early": result.stopped_early}
            threshold = study_threshold = None
            probabilities = predict_probabilities(model, val.images, normalization, device).numpy()
            summary["val_output_spread"] = output_spread(probabilities)
            if summary["val_output_spread"] < COLLAPSED_SPREAD:
                log.warning(f"train: {config.arch} did not learn: its validation probabilities barely vary "
                            f"(std {summary['val_output_spread']:.4f}); try model.pretrained: true, a lower "
                            f"train.lr or more train.epochs")
            if config.task == "fracture":
                probability = probabilities[:, 1]
                threshold, study_threshold = validation_thresholds(val.rows.assign(probability=probability),
                                                                   config.threshold, config.target_sensitivity)
                at_threshold = binary_metrics(val.labels.numpy(), probability, threshold)
                summary.update(threshold=threshold, study_threshold=study_threshold, best={
                    "val_auc": at_threshold["auc"], "val_sensitivity": at_threshold["sensitivity"],
                    "val_specificity": at_threshold["specificity"]})
            else:
                summary["best"] = {"val_auc": result.history[result.best_epoch - 1].val_auc}
            live.summary.update(summary)

    if ranks.main:
        preprocessing = read_json(PROCESSED / "preprocessing.json")
        save_checkpoint(MODEL, {key: value.cpu() for key, value in result.best_state.items()}, {
            "arch": config.arch, "width": config.width, "task": config.task, "classes": classes,
            "image_size": preprocessing["image_size"], "filters": preprocessing["filters"],
            "normalization": {"mean": normalization.mean, "std": normalization.std},
            "threshold": threshold, "study_threshold": study_threshold,
            "threshold_method": config.threshold if threshold is not None else None,
            "target_sensitivity": config.target_sensitivity if config.threshold == "sensitivity" else None,
            "best_epoch": result.best_epoch, "seed": config.seed, "torch": str(torch.__version__),
        })
        RESUME.unlink(missing_ok=True)
        log.info(f"train: best epoch {result.best_epoch}, val AUC {summary['best']['val_auc']:.4f}"
                 + (f", thresholds {threshold:.4f} per image, {study_threshold:.4f} per study"
                    if threshold is not None else ""))
    distributed.finish()


if __name__ == "__main__":
    run_stage(main)
