"""The epoch loop: train_one_epoch, evaluate, and fit with early stopping.

On CUDA the loop uses mixed precision (float16 autocast with a gradient
scaler) and channels-last memory; on CPU it runs in float32 and is
deterministic for a seed. Under torch.distributed (DDP) every rank trains on
its own slice of each global batch; rank 0 evaluates, decides and broadcasts,
so that the learning-rate schedule and early stopping agree on every rank.
Fit can save its whole state after each epoch and resume from it, giving the
same result as a run that was never interrupted.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..errors import UserError
from ..metrics import auc_of, output_spread
from ..models import classifier_head
from ..storage import atomic_path
from .config import TrainConfig
from .data import Normalization, SplitData, batch_indices, prepare_batch

EVAL_BATCH = 128
log = logging.getLogger(__name__)


@dataclass
class EpochResult:
    epoch: int
    train_loss: float
    val_loss: float
    val_auc: float
    lr: float
    seconds: float = 0.0  # wall time of the epoch's training and validation (0 in a resume file from before it)
    val_spread: float = math.nan  # output_spread of the validation probabilities: near 0, the net has collapsed

    def monitored(self, monitor: str) -> float:
        return {"val_auc": self.val_auc, "val_loss": self.val_loss}[monitor]


@dataclass
class FitResult:
    best_state: dict
    best_epoch: int
    history: list[EpochResult] = field(default_factory=list)
    stopped_early: bool = False


@dataclass(frozen=True)
class Ranks:
    """This process's place among data-parallel processes (rank 0 of 1 when alone)."""

    rank: int = 0
    world: int = 1

    @classmethod
    def current(cls) -> "Ranks":
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        return cls()

    @property
    def main(self) -> bool:
        return self.rank == 0


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


def rank_batches(count: int, batch_size: int, shuffle: torch.Generator, ranks: Ranks) -> list[torch.Tensor]:
    """This rank's index batches: a permutation shared by all ranks, cut into global batches."""
    if ranks.world == 1:
        return [batch for batch in batch_indices(count, batch_size, shuffle) if len(batch) > 1 or count == 1]
    global_size = batch_size * ranks.world
    full = batch_indices(count, global_size, shuffle)
    return [batch[ranks.rank * batch_size:(ranks.rank + 1) * batch_size] for batch in full
            if len(batch) == global_size]  # equal step counts on every rank, or DDP would wait forever


@dataclass(frozen=True)
class LearningRatePlan:
    """The learning rates of the first epochs, before ReduceLROnPlateau takes over.

    During `freeze_epochs` only the head learns (the backbone's rate is 0; its
    BatchNorm statistics are frozen by the loop), as the seed project
    fine-tuned a pretrained ResNet50's last layers. Over `warmup_epochs` every
    group's rate rises linearly, step by step, to its `base_lr`: deep networks
    trained from scratch can fall into one constant answer in their first
    steps at the full rate. The first step after both sets the base rates.
    """

    warmup_epochs: int = 0
    freeze_epochs: int = 0

    @property
    def epochs(self) -> int:
        return max(self.warmup_epochs, self.freeze_epochs)

    def frozen(self, epoch: int) -> bool:
        return epoch <= self.freeze_epochs

    def apply(self, optimizer: torch.optim.Optimizer, epoch: int, step: int, steps: int) -> None:
        if epoch > self.epochs + 1 or (epoch == self.epochs + 1 and step > 0):
            return
        done = min(1.0, ((epoch - 1) * steps + step + 1) / (self.warmup_epochs * steps)) if self.warmup_epochs \
            else 1.0
        for group in optimizer.param_groups:
            group["lr"] = 0.0 if group["name"] == "backbone" and self.frozen(epoch) else group["base_lr"] * done


def optimizer_step(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, criterion: nn.Module,
                   optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                   max_grad_norm: float = 0.0) -> torch.Tensor:
    """Forward, loss, backward and update of one batch (float16 autocast on CUDA); returns the loss.

    With `max_grad_norm` > 0 the gradients are clipped to that global norm (after unscaling).
    """
    with torch.autocast(inputs.device.type, dtype=torch.float16, enabled=inputs.device.type == "cuda"):
        loss = criterion(model(inputs), targets)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if max_grad_norm > 0:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    scaler.step(optimizer)
    scaler.update()
    return loss.detach()


def train_one_epoch(model: nn.Module, data: SplitData, normalization: Normalization, criterion: nn.Module,
                    optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, config: TrainConfig,
                    device: torch.device, shuffle: torch.Generator, augmentation: torch.Generator,
                    ranks: Ranks = Ranks(), epoch: int = 1) -> float:
    """One pass over the training split; returns the mean loss per image (over all ranks)."""
    model.train()
    cuda = device.type == "cuda"
    total = torch.zeros(2, dtype=torch.float64, device=device)
    plan = LearningRatePlan(config.warmup_epochs, config.freeze_epochs)
    if plan.frozen(epoch):  # head-only epochs: the backbone's BatchNorm keeps its statistics
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
    batches = rank_batches(len(data), config.batch_size, shuffle, ranks)
    for step, indices in enumerate(batches):
        plan.apply(optimizer, epoch, step, len(batches))
        inputs = prepare_batch(data.images[indices], normalization, device, config.augment, augmentation, cuda)
        targets = data.labels[indices].to(device, non_blocking=True)
        loss = optimizer_step(model, inputs, targets, criterion, optimizer, scaler, config.grad_clip)
        total += torch.stack([loss.double() * len(indices), torch.tensor(len(indices), device=device)])
    if ranks.world > 1:
        dist.all_reduce(total)
    return float(total[0] / total[1].clamp_min(1))


@torch.no_grad()
def predict_probabilities(model: nn.Module, images: torch.Tensor, normalization: Normalization,
                          device: torch.device, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """Softmax probabilities (N x classes) on CPU, in float32."""
    model.eval()
    cuda = device.type == "cuda"
    outputs = []
    for indices in batch_indices(len(images), batch_size):
        inputs = prepare_batch(images[indices], normalization, device, channels_last=cuda)
        with torch.autocast(device.type, dtype=torch.float16, enabled=cuda):
            logits = model(inputs)
        outputs.append(torch.softmax(logits.float(), dim=1).cpu())
    return torch.cat(outputs)


def evaluate(model: nn.Module, data: SplitData, normalization: Normalization, criterion: nn.Module,
             device: torch.device) -> tuple[float, float, np.ndarray]:
    """Validation loss, AUC and probabilities; both NaN when the outputs are not finite (a diverged model)."""
    probabilities = predict_probabilities(model, data.images, normalization, device)
    if not torch.isfinite(probabilities).all():
        return math.nan, math.nan, probabilities.numpy()
    loss = criterion(torch.log(probabilities.clamp_min(1e-12)), data.labels).item()
    auc = auc_of(data.labels.numpy(), probabilities.numpy())
    return loss, math.nan if auc is None else auc, probabilities.numpy()


@dataclass
class _Progress:
    """Everything fit needs to continue after an interruption."""

    epoch: int = 0
    best: float = -math.inf
    waited: int = 0
    best_epoch: int = 0
    best_state: dict = field(default_factory=dict)
    history: list[EpochResult] = field(default_factory=list)


def rng_states(shuffle: torch.Generator, augmentation: torch.Generator, device: torch.device,
               ranks: Ranks) -> list[dict]:
    """Every rank's random state, in rank order: each rank draws its own augmentation (and dropout)."""
    own = {"shuffle": shuffle.get_state(), "augmentation": augmentation.get_state(),
           "torch": torch.get_rng_state(),
           "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}
    if ranks.world == 1:
        return [own]
    gathered: list[dict] = [{} for _ in range(ranks.world)]
    dist.all_gather_object(gathered, own)
    return gathered


def restore_rng(state: dict, shuffle: torch.Generator, augmentation: torch.Generator, device: torch.device) -> None:
    shuffle.set_state(state["shuffle"])
    augmentation.set_state(state["augmentation"])
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and state["cuda"] is not None:
        torch.cuda.set_rng_state(state["cuda"], device)


def _save_resume(path: Path, fingerprint: str, progress: _Progress, model, optimizer, scheduler, scaler,
                 rng: list[dict]) -> None:
    state = {"fingerprint": fingerprint, "epoch": progress.epoch, "best": progress.best, "waited": progress.waited,
             "best_epoch": progress.best_epoch, "best_state": progress.best_state,
             "history": [asdict(epoch) for epoch in progress.history], "model": model.state_dict(),
             "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
             "rng": rng}
    with atomic_path(path) as temporary:
        torch.save(state, temporary)


def _read_resume(path: Path | None, fingerprint: str, epochs: int, device: torch.device,
                 ranks: Ranks) -> dict | None:
    """This run's saved state, or None; with several processes, None unless every one of them found it.

    A state that ran past `epochs` is not resumed: its best epoch may lie
    beyond this budget. A machine of a multi-machine job may lack the file
    that rank 0 wrote: then every rank starts afresh rather than some
    resuming and some not.
    """
    state = None
    if path is not None and path.is_file():
        state = torch.load(path, map_location="cpu", weights_only=False)
        if (state.get("fingerprint") != fingerprint or len(state.get("rng", [])) != ranks.world
                or state["epoch"] > epochs):
            state = None
    if ranks.world > 1:
        found = torch.tensor([float(state is not None)], device=device)
        dist.all_reduce(found, op=dist.ReduceOp.MIN)
        state = state if found.item() == 1.0 else None
    return state


def _restore(state: dict, model, optimizer, scheduler, scaler, shuffle: torch.Generator,
             augmentation: torch.Generator, device: torch.device, ranks: Ranks) -> _Progress:
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    restore_rng(state["rng"][ranks.rank], shuffle, augmentation, device)
    return _Progress(state["epoch"], state["best"], state["waited"], state["best_epoch"], state["best_state"],
                     [EpochResult(**epoch) for epoch in state["history"]])


def fit(model: nn.Module, train: SplitData, val: SplitData, normalization: Normalization, num_classes: int,
        config: TrainConfig, device: torch.device,
        on_epoch: Callable[[EpochResult], None] = lambda result: None,
        resume: tuple[Path, str] | None = None) -> FitResult:
    """Train with ReduceLROnPlateau and early stopping on `config.monitor`; keep the best weights.

    `on_epoch` sees every epoch of the run's history in order, those restored
    from a resume file first. `resume` is (file, fingerprint): the state is
    saved there after each epoch and picked up when the fingerprint matches.
    """
    ranks = Ranks.current()
    weights = class_weights(train.labels, num_classes) if config.class_weights else None
    criterion = nn.CrossEntropyLoss(weight=weights.to(device) if weights is not None else None)
    val_criterion = nn.NLLLoss(weight=weights)
    trained = model
    if ranks.world > 1:
        trained = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = make_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode=config.monitor_mode, factor=config.lr_factor, patience=config.lr_patience,
        min_lr=config.min_lr)
    scaler = torch.amp.GradScaler(device.type, enabled=device.type == "cuda")
    shuffle = torch.Generator().manual_seed(config.seed)
    augmentation = torch.Generator().manual_seed(config.seed + 7919 * (ranks.rank + 1))
    resume_path, fingerprint = resume if resume else (None, "")
    state = _read_resume(resume_path, fingerprint, config.epochs, device, ranks)
    if state is None:
        progress = _Progress(best_state=copy.deepcopy(model.state_dict()))
    else:
        progress = _restore(state, model, optimizer, scheduler, scaler, shuffle, augmentation, device, ranks)
        log.info(f"resuming after epoch {progress.epoch} from {resume_path}")
    for past in progress.history:
        on_epoch(past)
    if device.type == "cuda":
        train = SplitData(train.images.to(device), train.labels, train.rows)  # uint8 split stays on the GPU
    sign = 1.0 if config.monitor_mode == "max" else -1.0
    stopped_early = progress.waited >= config.patience
    while progress.epoch < config.epochs and not stopped_early:
        epoch = progress.epoch + 1
        started = time.perf_counter()
        train_loss = train_one_epoch(trained, train, normalization, criterion, optimizer, scaler, config, device,
                                     shuffle, augmentation, ranks, epoch)
        decision = torch.zeros(3, dtype=torch.float64)
        if ranks.main:
            val_loss, val_auc, probabilities = evaluate(model, val, normalization, val_criterion, device)
            decision[:] = torch.tensor([val_loss, val_auc, output_spread(probabilities)])
        if ranks.world > 1:
            decision = decision.to(device)
            dist.broadcast(decision, src=0)
        result = EpochResult(epoch, train_loss, float(decision[0]), float(decision[1]),
                             optimizer.param_groups[0]["lr"], time.perf_counter() - started, float(decision[2]))
        if math.isnan(result.val_loss):
            raise UserError(f"training diverged in epoch {epoch}: the model's outputs are no longer finite "
                            f"numbers (train loss {train_loss:.4g}); lower train.lr (now {config.lr:g})")
        progress.history.append(result)
        score = sign * result.monitored(config.monitor)
        if score > progress.best:
            progress.best, progress.waited = score, 0
            progress.best_state, progress.best_epoch = copy.deepcopy(model.state_dict()), epoch
        else:
            progress.waited += 1
        if epoch > LearningRatePlan(config.warmup_epochs, config.freeze_epochs).epochs:
            scheduler.step(result.monitored(config.monitor))  # the plateau schedule takes over from the plan
        progress.epoch = epoch
        stopped_early = progress.waited >= config.patience
        if resume_path is not None:
            rng = rng_states(shuffle, augmentation, device, ranks)  # every rank takes part in the gather
            if ranks.main:
                _save_resume(resume_path, fingerprint, progress, model, optimizer, scheduler, scaler, rng)
        on_epoch(result)
    return FitResult(progress.best_state, progress.best_epoch, progress.history, stopped_early)
