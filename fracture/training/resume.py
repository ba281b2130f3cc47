"""Resuming a stopped training run: its state saved after each epoch, picked up when the same run starts again.

A run is identified by its fingerprint (its params and data, not its epoch
budget); a file from another run, another number of processes, or one that
ran past this run's budget is ignored. The state holds everything an epoch
changes (weights, optimizer, schedule, scaler, every rank's random state),
so a resumed run ends exactly where an uninterrupted one would.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from ..storage import atomic_path
from .ema import WeightAverage

log = logging.getLogger(__name__)


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
class Progress:
    """Where a run stands: epochs done, the best score and its weights, epochs waited since, the history."""

    epoch: int = 0
    best: float = -math.inf
    waited: int = 0
    best_epoch: int = 0
    best_state: dict = field(default_factory=dict)
    history: list[EpochResult] = field(default_factory=list)

    def record(self, result: EpochResult, score: float, model: nn.Module) -> None:
        """One more epoch, with its score (higher is better); its weights are kept when they are the best yet."""
        self.history.append(result)
        if score > self.best:
            self.best, self.waited = score, 0
            self.best_state, self.best_epoch = copy.deepcopy(model.state_dict()), result.epoch
        else:
            self.waited += 1
        self.epoch = result.epoch


@dataclass
class TrainingState:
    """What an epoch changes besides the progress: the model, what steps it, and the random generators."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau
    scaler: torch.amp.GradScaler
    shuffle: torch.Generator
    augmentation: torch.Generator
    average: WeightAverage | None = None  # the moving average of the weights, with train.ema

    @property
    def kept(self) -> nn.Module:
        """The weights that are validated and kept: the moving average where there is one."""
        return self.average.model if self.average is not None else self.model

    def stateful(self) -> dict:
        """What the resume file saves by state_dict, by name."""
        parts = {name: getattr(self, name) for name in ("model", "optimizer", "scheduler", "scaler")}
        return parts | ({"average": self.average} if self.average is not None else {})

    def random_states(self, device: torch.device, ranks: Ranks) -> list[dict]:
        """Every rank's random state, in rank order: each rank draws its own augmentation (and dropout)."""
        own = {"shuffle": self.shuffle.get_state(), "augmentation": self.augmentation.get_state(),
               "torch": torch.get_rng_state(),
               "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}
        if ranks.world == 1:
            return [own]
        gathered: list[dict] = [{} for _ in range(ranks.world)]
        dist.all_gather_object(gathered, own)
        return gathered

    def restore(self, saved: dict, device: torch.device, ranks: Ranks) -> Progress:
        """Take back a saved state, this rank's random state included; return its progress."""
        for name, part in self.stateful().items():
            part.load_state_dict(saved[name])
        own = saved["rng"][ranks.rank]
        self.shuffle.set_state(own["shuffle"])
        self.augmentation.set_state(own["augmentation"])
        torch.set_rng_state(own["torch"])
        if device.type == "cuda" and own["cuda"] is not None:
            torch.cuda.set_rng_state(own["cuda"], device)
        return Progress(saved["epoch"], saved["best"], saved["waited"], saved["best_epoch"], saved["best_state"],
                        [EpochResult(**epoch) for epoch in saved["history"]])


def resume_fingerprint(params: dict, processed: Path, files=("manifest.csv", "preprocessing.json")) -> str:
    """Identifies a training run: its params and its data; a resume file from another run is ignored.

    `train.epochs` is left out: the epochs already run do not depend on the
    budget, so a stopped run can go on with more epochs, or end sooner.
    """
    run = {key: params.get(key) for key in ("base", "model", "train")}
    run["train"] = {key: value for key, value in (run["train"] or {}).items() if key != "epochs"}
    digest = hashlib.sha256(json.dumps(run, sort_keys=True).encode())
    for name in files:
        digest.update((processed / name).read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Resume:
    """Where a run's state is saved after each epoch (None: nowhere), and the fingerprint of the run."""

    path: Path | None = None
    fingerprint: str = ""

    def _saved(self, epochs: int, device: torch.device, ranks: Ranks) -> dict | None:
        """This run's saved state, or None; with several processes, None unless every one of them found it (a
        machine of a multi-machine job may lack the file that rank 0 wrote)."""
        saved = None
        if self.path is not None and self.path.is_file():
            saved = torch.load(self.path, map_location="cpu", weights_only=False)
            if (saved.get("fingerprint") != self.fingerprint or len(saved.get("rng", [])) != ranks.world
                    or saved["epoch"] > epochs):  # past this budget, its best epoch may lie beyond it
                saved = None
        if ranks.world > 1:
            found = torch.tensor([float(saved is not None)], device=device)
            dist.all_reduce(found, op=dist.ReduceOp.MIN)
            saved = saved if found.item() == 1.0 else None
        return saved

    def load(self, state: TrainingState, epochs: int, device: torch.device, ranks: Ranks) -> Progress | None:
        """Restore `state` from this run's file and return its progress, or None to start afresh."""
        saved = self._saved(epochs, device, ranks)
        if saved is None:
            return None
        progress = state.restore(saved, device, ranks)
        log.info(f"resuming after epoch {progress.epoch} from {self.path}")
        return progress

    def save(self, progress: Progress, state: TrainingState, device: torch.device, ranks: Ranks) -> None:
        """Every rank's random state is gathered; rank 0 writes the file."""
        if self.path is None:
            return
        rng = state.random_states(device, ranks)
        if not ranks.main:
            return
        saved = {"fingerprint": self.fingerprint, "epoch": progress.epoch, "best": progress.best,
                 "waited": progress.waited, "best_epoch": progress.best_epoch, "best_state": progress.best_state,
                 "history": [asdict(epoch) for epoch in progress.history],
                 **{name: part.state_dict() for name, part in state.stateful().items()},
                 "rng": rng}
        with atomic_path(self.path) as temporary:
            torch.save(saved, temporary)
