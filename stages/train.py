"""Stage train: one architecture (model.arch) on the processed arrays; best epoch by validation."""

import logging
from pathlib import Path

import torch

from fracture.errors import run_stage
from fracture.metrics import binary_metrics, choose_threshold
from fracture.models import build_model
from fracture.params import load_params
from fracture.storage import read_json
from fracture.training.checkpoint import save_checkpoint
from fracture.training.config import make_deterministic, resolve_device, train_config
from fracture.training.data import Normalization, load_split
from fracture.training.live import log_epoch, open_live
from fracture.training.loop import fit, predict_probabilities

log = logging.getLogger("stages.train")

PROCESSED = Path("data/processed")
MODEL = Path("models/model.pt")
LIVE_DIR = Path("reports/train")
CLASSES = ["normal", "abnormal"]
IMAGENET_GREY = Normalization(mean=0.449, std=0.226)


def main() -> None:
    config = train_config(load_params())
    device = resolve_device(config.device)
    make_deterministic(config.seed, device)
    train, val = load_split(PROCESSED, "train"), load_split(PROCESSED, "val")
    normalization = IMAGENET_GREY if config.pretrained else Normalization.of(train.images)
    model = build_model(config.arch, len(CLASSES), config.pretrained, config.width).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    log.info(f"train: {config.arch} on {device}, {len(train)} train / {len(val)} val images")

    with open_live(LIVE_DIR) as live:
        result = fit(model, train, val, normalization, len(CLASSES), config, device,
                     lambda epoch: log_epoch(live, epoch))
        model.load_state_dict(result.best_state)
        val_probability = predict_probabilities(model, val.images, normalization, device)[:, 1].numpy()
        labels = val.labels.numpy()
        threshold = choose_threshold(labels, val_probability, config.threshold, config.target_sensitivity)
        at_threshold = binary_metrics(labels, val_probability, threshold)
        live.summary.update({"best_epoch": result.best_epoch, "epochs_run": len(result.history),
                             "stopped_early": result.stopped_early, "threshold": threshold,
                             "best": {"val_auc": at_threshold["auc"], "val_sensitivity": at_threshold["sensitivity"],
                                      "val_specificity": at_threshold["specificity"]}})

    preprocessing = read_json(PROCESSED / "preprocessing.json")
    save_checkpoint(MODEL, {key: value.cpu() for key, value in result.best_state.items()}, {
        "arch": config.arch, "width": config.width, "task": "fracture", "classes": CLASSES,
        "image_size": preprocessing["image_size"], "filters": preprocessing["filters"],
        "normalization": {"mean": normalization.mean, "std": normalization.std},
        "threshold": threshold, "threshold_method": config.threshold,
        "target_sensitivity": config.target_sensitivity if config.threshold == "sensitivity" else None,
        "best_epoch": result.best_epoch, "seed": config.seed, "torch": str(torch.__version__),
    })
    log.info(f"train: best epoch {result.best_epoch}, val AUC {at_threshold['auc']:.4f}, threshold {threshold:.4f}")


if __name__ == "__main__":
    run_stage(main)
