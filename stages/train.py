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

from fracture.core.errors import run_stage
from fracture.core.params import load_params
from fracture.core.paths import MODEL, PROCESSED, TRAIN_REPORTS
from fracture.data.filter import quality_rules
from fracture.data.grouping import has_studies
from fracture.data.processed import load_split, read_processed_manifest, task_classes
from fracture.imaging.preprocessing import Normalization, Preprocessing
from fracture.inference.checkpoint import save_checkpoint
from fracture.inference.device import resolve_device
from fracture.inference.presets import ModelInput
from fracture.models.architectures import build_model, pretrained_normalization
from fracture.training import distributed
from fracture.training.config import check_gpus, make_deterministic, train_config
from fracture.training.live import log_epoch, open_live
from fracture.training.loop import EpochHooks, Splits, fit
from fracture.training.outcome import judge_run, run_metadata
from fracture.training.resume import Resume, resume_fingerprint

log = logging.getLogger("stages.train")

RESUME = Path("models/resume/train.pt")


def main() -> None:
    params = load_params()
    config, quality = train_config(params), quality_rules(params)
    device = resolve_device(config.device, distributed.local_rank())
    check_gpus(config, device)
    manifest = read_processed_manifest(PROCESSED)
    classes, regions = task_classes(config.task, manifest)
    if (config.gpus > 1 or distributed.multi_node()) and not distributed.under_torchrun():
        sys.exit(distributed.relaunch(config.gpus, "stages.train"))
    ranks = distributed.start(device)
    make_deterministic(config.seed, device)
    train, val = load_split(PROCESSED, "train", regions), load_split(PROCESSED, "val", regions)
    preprocessing = Preprocessing.read(PROCESSED).normalized(
        pretrained_normalization(config.arch) if config.pretrained else Normalization.of(train.images))
    model = build_model(config.arch, len(classes), config.pretrained, config.width, config.head).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    log.info(f"train: {config.arch} ({config.task}) on {device} x {ranks.world}, "
             f"{len(train)} train / {len(val)} val images")

    with open_live(TRAIN_REPORTS) if ranks.main else nullcontext() as live:
        hooks = EpochHooks((lambda epoch: log_epoch(live, epoch)) if live else (lambda epoch: None),
                           Resume(RESUME, resume_fingerprint(params, PROCESSED)))
        result = fit(model, Splits(train, val, len(classes)),
                     ModelInput(preprocessing.normalization, device, config.channels_last), config, hooks)
        if ranks.main:
            model.load_state_dict(result.best_state)
            outcome = judge_run(model, result, val, preprocessing, config, device, has_studies(manifest))
            live.summary.update(outcome.summary)
    if ranks.main:
        save_checkpoint(MODEL, result.best_state, run_metadata(config, classes, preprocessing, outcome,
                                                               result.best_epoch, quality, manifest))
        RESUME.unlink(missing_ok=True)
        log.info(f"train: {outcome.line()}")
    distributed.finish()


if __name__ == "__main__":
    run_stage(main)
