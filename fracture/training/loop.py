"""The epoch loop: train_one_epoch, evaluate, and fit with early stopping.

On CUDA the loop uses mixed precision (float16 autocast with a gradient
scaler) and channels-last memory; on CPU it runs in float32 and is
deterministic for a seed.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from .config import TrainConfig
from .data import Normalization, SplitData, batch_indices, prepare_batch

EVAL_BATCH = 128


@dataclass
class EpochResult:
    epoch: int
    train_loss: float
    val_loss: float
    val_auc: float
    lr: float

    def monitored(self, monitor: str) -> float:
        return {"val_auc": self.val_auc, "val_loss": self.val_loss}[monitor]


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
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)
    optimizer = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return optimizer(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def train_one_epoch(model: nn.Module, data: SplitData, normalization: Normalization, criterion: nn.Module,
                    optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, config: TrainConfig,
                    device: torch.device, generator: torch.Generator) -> float:
    """One pass over the training split; returns the mean loss per image."""
    model.train()
    cuda = device.type == "cuda"
    total, seen = 0.0, 0
    for indices in batch_indices(len(data), config.batch_size, generator):
        if len(indices) < 2 and len(data) > 1:
            continue  # BatchNorm cannot train on a single image
        inputs = prepare_batch(data.images[indices], normalization, device, config.augment, generator, cuda)
        targets = data.labels[indices].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=cuda):
            loss = criterion(model(inputs), targets)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        total += loss.item() * len(indices)
        seen += len(indices)
    return total / max(seen, 1)


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


def auc(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """ROC-AUC on probabilities (one-vs-rest macro average for several classes); NaN if undefined."""
    if len(np.unique(labels)) < 2:
        return math.nan
    if probabilities.shape[1] == 2:
        return float(roc_auc_score(labels, probabilities[:, 1]))
    return float(roc_auc_score(labels, probabilities, multi_class="ovr", labels=range(probabilities.shape[1])))


def evaluate(model: nn.Module, data: SplitData, normalization: Normalization, criterion: nn.Module,
             device: torch.device) -> tuple[float, float, np.ndarray]:
    """Validation loss, AUC and probabilities."""
    probabilities = predict_probabilities(model, data.images, normalization, device)
    loss = criterion(torch.log(probabilities.clamp_min(1e-12)), data.labels).item()
    return loss, auc(data.labels.numpy(), probabilities.numpy()), probabilities.numpy()


def fit(model: nn.Module, train: SplitData, val: SplitData, normalization: Normalization, num_classes: int,
        config: TrainConfig, device: torch.device,
        on_epoch: Callable[[EpochResult], None] = lambda result: None) -> FitResult:
    """Train with ReduceLROnPlateau and early stopping on `config.monitor`; keep the best weights."""
    weights = class_weights(train.labels, num_classes) if config.class_weights else None
    criterion = nn.CrossEntropyLoss(weight=weights.to(device) if weights is not None else None)
    val_criterion = nn.NLLLoss(weight=weights)
    optimizer = make_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode=config.monitor_mode, factor=config.lr_factor, patience=config.lr_patience,
        min_lr=config.min_lr)
    scaler = torch.amp.GradScaler(device.type, enabled=device.type == "cuda")
    generator = torch.Generator().manual_seed(config.seed)
    sign = 1.0 if config.monitor_mode == "max" else -1.0
    result = FitResult(best_state=copy.deepcopy(model.state_dict()), best_epoch=0)
    best, waited = -math.inf, 0
    for epoch in range(1, config.epochs + 1):
        train_loss = train_one_epoch(model, train, normalization, criterion, optimizer, scaler, config, device,
                                     generator)
        val_loss, val_auc, _ = evaluate(model, val, normalization, val_criterion, device)
        epoch_result = EpochResult(epoch, train_loss, val_loss, val_auc, optimizer.param_groups[0]["lr"])
        result.history.append(epoch_result)
        on_epoch(epoch_result)
        score = sign * epoch_result.monitored(config.monitor)
        if score > best:
            best, waited = score, 0
            result.best_state, result.best_epoch = copy.deepcopy(model.state_dict()), epoch
        else:
            waited += 1
        scheduler.step(epoch_result.monitored(config.monitor))
        if waited >= config.patience:
            result.stopped_early = True
            break
    return result
