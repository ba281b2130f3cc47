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
import pickle
import re
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from fracture.core.storage import atomic_path
from fracture.training.ema import WeightAverage

log = logging.getLogger(__name__)
SAVED_KEYS = {"fingerprint", "epoch", "best", "waited", "best_epoch", "best_state", "history", "model", "optimizer",
              "scheduler", "scaler", "rng"}
NUMBER = (int, float)
UNSAFE_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")


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

    def snapshot(self, device: torch.device) -> dict:
        """This process's state as it is now: what a resume file that fails part way through restoring leaves."""
        return {**{name: copy.deepcopy(part.state_dict()) for name, part in self.stateful().items()},
                "rng": self.random_states(device, Ranks())}

    def restore(self, saved: dict, device: torch.device, ranks: Ranks) -> Progress:
        """Take back a saved state, this rank's random state included; return its progress.

        What a file holds is checked against this run's own state first (the
        same keys and kinds of value, the same shapes), so a damaged or
        foreign file raises (ValueError, KeyError, TypeError, RuntimeError)
        instead of training on, or failing epochs later. A failure part way
        leaves this state half restored: put `snapshot()` back then.
        """
        for name, part in self.stateful().items():
            _check_fits(name, saved[name], part.state_dict())
        self._check_optimizer_shapes(saved["optimizer"])
        progress = _saved_progress(saved, self.kept.state_dict())
        self.put_back(saved, saved["rng"][ranks.rank], device)
        return progress

    def put_back(self, saved: dict, own_rng: dict, device: torch.device) -> None:
        """Load saved parts and random generators into this state (a resume file's, or a snapshot)."""
        for name, part in self.stateful().items():
            part.load_state_dict(saved[name])
        self.shuffle.set_state(own_rng["shuffle"])
        self.augmentation.set_state(own_rng["augmentation"])
        torch.set_rng_state(own_rng["torch"])
        if device.type == "cuda" and own_rng["cuda"] is not None:
            torch.cuda.set_rng_state(own_rng["cuda"], device)

    def _check_optimizer_shapes(self, saved: dict) -> None:
        """The optimizer's per-weight tensors (momenta) must have their weight's shape; load_state_dict does not
        check, and the first step would fail."""
        weights = [weight for group in self.optimizer.param_groups for weight in group["params"]]
        for index, values in saved["state"].items():
            for value in values.values():
                if isinstance(value, torch.Tensor) and value.ndim and value.shape != weights[index].shape:
                    raise ValueError(f"its optimizer state for weight {index} has shape {tuple(value.shape)}, "
                                     f"not {tuple(weights[index].shape)}")


def _check_fits(name: str, saved, own: dict) -> None:
    """A saved part has this run's keys, each value of the kind this run's has (the scheduler takes any attribute
    it is given)."""
    if not isinstance(saved, dict) or saved.keys() != own.keys():
        raise ValueError(f"its {name} state does not have this run's keys")
    for key, value in own.items():
        kind = torch.Tensor if isinstance(value, torch.Tensor) else NUMBER if type(value) in NUMBER else type(value)
        if not isinstance(saved[key], kind):
            raise ValueError(f"its {name} state holds a {type(saved[key]).__name__} for {key!r}")


def _saved_progress(saved: dict, weights: dict) -> Progress:
    """The saved progress, checked: whole epoch counts, a numeric score, best weights of this model's shapes."""
    counts = [saved[key] for key in ("epoch", "waited", "best_epoch")]
    if not all(type(count) is int and count >= 0 for count in counts) or type(saved["best"]) not in NUMBER:
        raise ValueError("its epoch counts or best score are not numbers")
    best_state = saved["best_state"]
    _check_fits("best weights", best_state, weights)
    if any(best_state[key].shape != value.shape for key, value in weights.items()):
        raise ValueError("its best weights do not have this model's shapes")
    history = [EpochResult(**epoch) for epoch in saved["history"]]
    if not all(type(value) in NUMBER for epoch in history for value in asdict(epoch).values()):
        raise ValueError("its history holds values that are not numbers")
    return Progress(saved["epoch"], saved["best"], saved["waited"], saved["best_epoch"], best_state, history)


def _everyone(found: bool, device: torch.device, ranks: Ranks) -> bool:
    """Whether every process found (or did) it; alone, whether this one did."""
    if ranks.world == 1:
        return found
    flag = torch.tensor([float(found)], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return flag.item() == 1.0


def _load_failure(path: Path, error: Exception) -> str:
    """Why torch could not load a file, in a few words."""
    if path.stat().st_size == 0:
        return "it is empty"
    if isinstance(error, pickle.UnpicklingError) and "Weights only load failed" in str(error):
        named = UNSAFE_GLOBAL.search(str(error))
        if named:
            return (f"it holds objects other than tensors and numbers ({named.group(1)}), which could run code "
                    f"when loaded, so it was not loaded")
        return "it is not a file of tensors and numbers that loads safely, so it was not loaded"
    return f"it is not a complete PyTorch file ({type(error).__name__}: {' '.join(str(error).split())[:120]})"


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
        saved = self._read() if self.path is not None and self.path.is_file() else None
        if saved is not None and (saved["fingerprint"] != self.fingerprint or len(saved["rng"]) != ranks.world
                                  or saved["epoch"] > epochs):  # past this budget, its best epoch may lie beyond it
            saved = None
        return saved if _everyone(saved is not None, device, ranks) else None

    def _read(self) -> dict | None:
        """The file's contents, loaded without running any code in it (tensors, numbers, strings and containers
        only); None, with a warning that says why, when it cannot be a resume file."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch's notes on pickle protocols: the warning below says it all
                saved = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as error:  # a damaged or planted file fails in many ways; none may stop a run
            self._unusable(_load_failure(self.path, error))
            return None
        missing = sorted(SAVED_KEYS - set(saved)) if isinstance(saved, dict) else None
        if missing is None or missing:
            self._unusable(f"it is not a resume file (no {', '.join(missing)})" if missing
                           else f"it holds a {type(saved).__name__}, not a resume file's dict")
            return None
        if not (isinstance(saved["fingerprint"], str) and isinstance(saved["rng"], list)
                and type(saved["epoch"]) is int):
            self._unusable("its fingerprint, epoch or random states are not of a resume file's kind")
            return None
        return saved

    def _unusable(self, why: str) -> None:
        log.warning(f"cannot resume from {self.path}: {why}; training starts afresh (the file is replaced after "
                    f"the first epoch)")

    def load(self, state: TrainingState, epochs: int, device: torch.device, ranks: Ranks) -> Progress | None:
        """Restore `state` from this run's file and return its progress, or None to start afresh (with the state
        as it was, when the file's contents do not fit this run)."""
        saved = self._saved(epochs, device, ranks)
        if saved is None:
            return None
        before = state.snapshot(device)
        try:
            progress, why = state.restore(saved, device, ranks), ""
        except (KeyError, IndexError, TypeError, ValueError, AttributeError, RuntimeError) as error:
            progress, why = None, " ".join(str(error).split())[:200] or type(error).__name__
        if not _everyone(progress is not None, device, ranks):
            state.put_back(before, before["rng"][0], device)
            self._unusable(f"its contents do not fit this run ({why or 'on another process'})")
            return None
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
