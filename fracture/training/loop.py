"""The epoch loop: train_one_epoch, evaluate, and fit with early stopping.

On CUDA the loop uses mixed precision (float16 autocast with a gradient
scaler) and channels-last memory; on CPU it runs in float32 and is
deterministic for a seed. Under torch.distributed (DDP) every rank trains on
its own slice of each global batch; rank 0 evaluates, decides and broadcasts,
so that the learning-rate schedule and early stopping agree on every rank.
Fit can save its whole state after each epoch and resume from it, giving the
same result as a run that was never interrupted. The fine-tuning recipe is
params: a plateau or cosine schedule after warm-up, label smoothing, a moving
average of the weights (validated and kept instead of the raw ones), class
weights in the loss or a class-balanced sampler.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from fracture.core.errors import UserError
from fracture.data.processed import SplitData
from fracture.evaluation.metrics import auc_of, output_spread
from fracture.inference.predictor import batch_indices, predict_probabilities
from fracture.inference.presets import ModelInput
from fracture.models.architectures import classifier_head
from fracture.training.augment import augment
from fracture.training.config import TrainConfig
from fracture.training.crops import crop_batch, crop_labels
from fracture.training.ema import WeightAverage
from fracture.training.map_targets import MapTargets, box_masks, each_box_mask, supervised_films
from fracture.training.resume import EpochResult, Progress, Ranks, Resume, TrainingState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Splits:
    """The films a run learns from and the films it is validated on, and how many classes they hold."""

    train: SplitData
    val: SplitData
    num_classes: int


def _ignore(result: EpochResult) -> None:
    """An epoch nobody watches."""


@dataclass(frozen=True)
class EpochHooks:
    """What follows a run from outside, epoch by epoch: who sees each result (the live log), and where its state
    is saved after each epoch and picked up from after an interruption."""

    on_epoch: Callable[[EpochResult], None] = _ignore
    resume: Resume = Resume()


@dataclass
class FitResult:
    best_state: dict
    best_epoch: int
    history: list[EpochResult] = field(default_factory=list)
    stopped_early: bool = False


def class_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """'Balanced' weights n / (k * count): each class contributes equally to the loss."""
    counts = torch.bincount(labels, minlength=num_classes).clamp_min(1).double()
    return (len(labels) / (num_classes * counts)).float()


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Two parameter groups: the backbone at lr x backbone_lr_factor and the classifier head at lr.

    Each group keeps its `base_lr`, which the learning-rate plan scales.
    """
    head = {id(parameter) for parameter in classifier_head(model).parameters()}
    backbone_lr = config.lr * config.backbone_lr_factor
    groups = [
        {"name": "backbone", "params": [p for p in model.parameters() if id(p) not in head], "lr": backbone_lr,
         "base_lr": backbone_lr},
        {"name": "head", "params": [p for p in model.parameters() if id(p) in head], "lr": config.lr,
         "base_lr": config.lr},
    ]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)
    optimizer = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return optimizer(groups, lr=config.lr, weight_decay=config.weight_decay)


def balanced_batches(labels: torch.Tensor, batch_size: int, shuffle: torch.Generator) -> tuple[torch.Tensor, ...]:
    """As many films as the split holds, drawn with replacement so that each class is drawn equally often."""
    weights = (1.0 / torch.bincount(labels).clamp_min(1).double())[labels]
    return torch.multinomial(weights, len(labels), replacement=True, generator=shuffle).split(batch_size)


def rank_batches(labels: torch.Tensor, batch_size: int, shuffle: torch.Generator, ranks: Ranks,
                 sampler: str = "shuffle") -> list[torch.Tensor]:
    """This rank's index batches: an order shared by all ranks (a permutation, or a class-balanced draw), cut
    into global batches."""
    count = len(labels)
    order = balanced_batches if sampler == "balanced" else (
        lambda labels, size, generator: batch_indices(len(labels), size, generator))
    if ranks.world == 1:
        return [batch for batch in order(labels, batch_size, shuffle) if len(batch) > 1 or count == 1]
    global_size = batch_size * ranks.world
    full = order(labels, global_size, shuffle)
    return [batch[ranks.rank * batch_size:(ranks.rank + 1) * batch_size] for batch in full
            if len(batch) == global_size]  # equal step counts on every rank, or DDP would wait forever


@dataclass(frozen=True)
class LearningRatePlan:
    """The learning rates of the first epochs, then either ReduceLROnPlateau's or a cosine decay.

    During `freeze_epochs` only the head learns (the backbone's rate is 0; its
    BatchNorm statistics are frozen by the loop), as the seed project
    fine-tuned a pretrained ResNet50's last layers. Over `warmup_epochs` every
    group's rate rises linearly, step by step, to its `base_lr`: deep networks
    trained from scratch can fall into one constant answer in their first
    steps at the full rate. The first step after both sets the base rates.
    With `cosine_epochs` (the run's epoch budget) the rates then fall step by
    step along half a cosine to `floor` x `base_lr` at the last step; without
    it the plateau schedule takes over.
    """

    warmup_epochs: int = 0
    freeze_epochs: int = 0
    cosine_epochs: int = 0
    floor: float = 0.0

    @property
    def epochs(self) -> int:
        return max(self.warmup_epochs, self.freeze_epochs)

    def frozen(self, epoch: int) -> bool:
        return epoch <= self.freeze_epochs

    def factor(self, epoch: int, step: int, steps: int) -> float | None:
        """The share of each group's base rate at this step; None where the plateau schedule sets it."""
        if epoch <= self.epochs:
            return min(1.0, ((epoch - 1) * steps + step + 1) / (self.warmup_epochs * steps)) \
                if self.warmup_epochs else 1.0
        if self.cosine_epochs:
            done = ((epoch - self.epochs - 1) * steps + step) / max(1, (self.cosine_epochs - self.epochs) * steps)
            return self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * min(done, 1.0)))
        return 1.0 if epoch == self.epochs + 1 and step == 0 else None

    def apply(self, optimizer: torch.optim.Optimizer, epoch: int, step: int, steps: int) -> None:
        done = self.factor(epoch, step, steps)
        if done is None:
            return
        for group in optimizer.param_groups:
            group["lr"] = 0.0 if group["name"] == "backbone" and self.frozen(epoch) else group["base_lr"] * done

    @classmethod
    def of(cls, config: TrainConfig) -> "LearningRatePlan":
        cosine = config.schedule == "cosine"
        return cls(config.warmup_epochs, config.freeze_epochs, config.epochs if cosine else 0,
                   min(1.0, config.min_lr / config.lr) if cosine else 0.0)


@contextlib.contextmanager
def head_only(model: nn.Module, optimizer: torch.optim.Optimizer, frozen: bool, ranks: Ranks):
    """A head-only epoch: the backbone's BatchNorm keeps its statistics and, in a single process, its weights
    need no gradient, so the backward pass stops at the head (a 4.6x faster step for efficientnet_lite0 at
    224 px on 2 CPU cores, bench/cpu_speed.py). Under DDP, whose set of trained weights is fixed when it wraps
    the model, the backbone gets gradients and a rate of 0 instead."""
    if not frozen:
        yield
        return
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
    backbone = [parameter for group in optimizer.param_groups if group["name"] == "backbone"
                for parameter in group["params"]] if ranks.world == 1 else []
    for parameter in backbone:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter in backbone:
            parameter.requires_grad_(True)


def optimizer_step(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, criterion: nn.Module,
                   optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                   max_grad_norm: float = 0.0, map_targets: MapTargets | None = None) -> torch.Tensor:
    """Forward, loss, backward and update of one batch (float16 autocast on CUDA); returns the loss.

    With `max_grad_norm` > 0 the gradients are clipped to that global norm (after unscaling). With
    `map_targets` the fracture map's loss is added to the image's.
    """
    with torch.autocast(inputs.device.type, dtype=torch.float16, enabled=inputs.device.type == "cuda"):
        if map_targets is None:
            loss = criterion(model(inputs), targets)
        else:
            logits, cells = model(inputs, with_map=True)
            loss = criterion(logits, targets) + map_targets.loss(cells)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if max_grad_norm > 0:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    scaler.step(optimizer)
    scaler.update()
    return loss.detach()


def _cropped(batch: torch.Tensor, augmented: Callable, size: int, generator: torch.Generator) -> torch.Tensor:
    """A batch of films and masks augmented whole, then cut to training crops."""
    return crop_batch(augmented(batch), size, generator)


def train_one_epoch(run: "TrainingRun", state: TrainingState, epoch: int = 1) -> float:
    """One pass over the training split; returns the mean loss per image (over all ranks). The state's moving
    average of the weights, if any, follows every step."""
    model, config, device = run.trained, run.config, run.inputs.device
    model.train()
    total = torch.zeros(2, dtype=torch.float64, device=device)
    plan = LearningRatePlan.of(config)
    batches = rank_batches(run.train.labels, config.batch_size, state.shuffle, run.ranks, config.sampler)
    augmented = partial(augment, config=config.augment, generator=state.augmentation)
    if config.crop:
        augmented = partial(_cropped, augmented=augmented, size=config.crop, generator=state.augmentation)
    with head_only(model, state.optimizer, plan.frozen(epoch), run.ranks):
        for step, indices in enumerate(batches):
            plan.apply(state.optimizer, epoch, step, len(batches))
            inputs, targets, map_targets = run.batch(indices, augmented)
            loss = optimizer_step(model, inputs, targets, run.criteria[0], state.optimizer, state.scaler,
                                  config.grad_clip, map_targets)
            if state.average is not None:
                state.average.update(model.module if isinstance(model, DistributedDataParallel) else model)
            total += torch.stack([loss.double() * len(indices), torch.tensor(len(indices), device=device)])
    if run.ranks.world > 1:
        dist.all_reduce(total)
    return float(total[0] / total[1].clamp_min(1))


def evaluate(model: nn.Module, data: SplitData, inputs: ModelInput,
             criterion: nn.Module) -> tuple[float, float, np.ndarray]:
    """Validation loss, AUC and probabilities; both NaN when the outputs are not finite (a diverged model). Scored
    as inference scores, whatever memory format training uses."""
    probabilities = predict_probabilities(model, data.images, ModelInput.on(inputs.normalization, inputs.device))
    if not torch.isfinite(probabilities).all():
        return math.nan, math.nan, probabilities.numpy()
    loss = criterion(torch.log(probabilities.clamp_min(1e-12)), data.labels).item()
    auc = auc_of(data.labels.numpy(), probabilities.numpy())
    return loss, math.nan if auc is None else auc, probabilities.numpy()


def _training_state(model: nn.Module, config: TrainConfig, device: torch.device, ranks: Ranks) -> TrainingState:
    optimizer = make_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode=config.monitor_mode, factor=config.lr_factor, patience=config.lr_patience,
        min_lr=config.min_lr)
    return TrainingState(model, optimizer, scheduler, torch.amp.GradScaler(device.type, enabled=device.type == "cuda"),
                         torch.Generator().manual_seed(config.seed),
                         torch.Generator().manual_seed(config.seed + 7919 * (ranks.rank + 1)),
                         WeightAverage(model, config.ema) if config.ema else None)


@dataclass(frozen=True)
class TrainingRun:
    """What every epoch of one run shares: its splits, what it trains, its losses, its input, and its ranks."""

    train: SplitData
    val: SplitData
    trained: nn.Module  # the model, or its DDP wrapper
    criteria: tuple[nn.Module, nn.Module]  # the training loss on logits, the validation loss on log-probabilities
    inputs: ModelInput
    config: TrainConfig
    ranks: Ranks

    @classmethod
    def of(cls, model: nn.Module, splits: Splits, inputs: ModelInput, config: TrainConfig) -> "TrainingRun":
        ranks, device = Ranks.current(), inputs.device
        weights = class_weights(splits.train.labels, splits.num_classes) if config.class_weights else None
        criteria = (nn.CrossEntropyLoss(weight=weights.to(device) if weights is not None else None,
                                        label_smoothing=config.label_smoothing),
                    nn.NLLLoss(weight=weights))  # validation loss: on the hard labels
        trained = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) \
            if ranks.world > 1 else model
        train = splits.train
        if device.type == "cuda":
            train = dataclasses.replace(train, images=train.images.to(device))  # uint8 split stays on the GPU
        return cls(train, splits.val, trained, criteria, inputs, config, ranks)

    @property
    def learns_map(self) -> bool:
        return self.config.head.is_map and self.config.map_loss_weight > 0

    def batch(self, indices: torch.Tensor,
              augmented: Callable) -> tuple[torch.Tensor, torch.Tensor, MapTargets | None]:
        """One training batch as the network takes it, its labels (what each crop shows, where it trains on
        crops), and its map targets where the model learns a map."""
        images, labels = self.train.images[indices], self.train.labels[indices.cpu()]
        device = self.inputs.device
        if not (self.learns_map or self.config.crop):
            return self.inputs(images, augmented), labels.to(device, non_blocking=True), None
        count = len(self.train)
        boxes = self.train.boxes if self.train.boxes is not None else torch.zeros(count, 1, 4)
        annotated = self.train.annotated if self.train.annotated is not None else torch.zeros(count, dtype=torch.bool)
        annotated = annotated[indices.cpu()]
        boxes = boxes[indices.cpu()].to(device)
        masks = box_masks(boxes, images.shape[-1])
        if self.learns_map and self.config.head.regresses:  # each box's own mask, warped with the films
            masks = torch.cat([masks, each_box_mask(boxes, images.shape[-1])], dim=1)
        inputs, masks = self.inputs.with_masks(images, masks, augmented)
        if self.config.crop:
            labels = crop_labels(labels, annotated, masks[:, :1].cpu())  # the boxes' union: all a crop's label needs
        targets = MapTargets(masks, supervised_films(labels, annotated).to(device), self.config.map_loss_weight)
        return inputs, labels.to(device, non_blocking=True), targets if self.learns_map else None

    def run(self, state: TrainingState, epoch: int) -> EpochResult:
        """Train one epoch; rank 0 validates and every rank gets its verdict."""
        started = time.perf_counter()
        train_loss = train_one_epoch(self, state, epoch)
        decision = torch.zeros(3, dtype=torch.float64)
        if self.ranks.main:
            val_loss, val_auc, probabilities = evaluate(state.kept, self.val, self.inputs, self.criteria[1])
            decision[:] = torch.tensor([val_loss, val_auc, output_spread(probabilities)])
        if self.ranks.world > 1:
            decision = decision.to(self.inputs.device)
            dist.broadcast(decision, src=0)
        result = EpochResult(epoch, train_loss, float(decision[0]), float(decision[1]),
                             state.optimizer.param_groups[0]["lr"], time.perf_counter() - started, float(decision[2]))
        if math.isnan(result.val_loss):
            raise UserError(f"training diverged in epoch {epoch}: the model's outputs are no longer finite "
                            f"numbers (train loss {train_loss:.4g}); lower train.lr (now {self.config.lr:g})")
        return result


def fit(model: nn.Module, splits: Splits, inputs: ModelInput, config: TrainConfig,
        hooks: EpochHooks = EpochHooks()) -> FitResult:
    """Train with the learning-rate plan and early stopping on `config.monitor`; keep the best weights (of the
    moving average, where there is one).

    `hooks.on_epoch` sees every epoch of the run's history in order, those
    restored from a resume file first. The state is saved to `hooks.resume`
    after each epoch and picked up from it when it holds this run.
    """
    run = TrainingRun.of(model, splits, inputs, config)
    device = inputs.device
    state = _training_state(model, config, device, run.ranks)
    progress = hooks.resume.load(state, config.epochs, device, run.ranks) or Progress(
        best_state=copy.deepcopy(model.state_dict()))
    for past in progress.history:
        hooks.on_epoch(past)
    sign = 1.0 if config.monitor_mode == "max" else -1.0
    while progress.epoch < config.epochs and progress.waited < config.patience:
        result = run.run(state, progress.epoch + 1)
        progress.record(result, sign * result.monitored(config.monitor), state.kept)
        if result.epoch > LearningRatePlan.of(config).epochs and config.schedule == "plateau":
            state.scheduler.step(result.monitored(config.monitor))  # the plateau schedule takes over from the plan
        hooks.resume.save(progress, state, device, run.ranks)  # every rank takes part in gathering the random states
        hooks.on_epoch(result)
    return FitResult(progress.best_state, progress.best_epoch, progress.history, progress.waited >= config.patience)
