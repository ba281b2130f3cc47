"""Saving a trained model with everything needed to use and to reproduce it.

The metadata is typed: the architecture and its classes, the preprocessing
the model was trained on (size, filters, normalisation), the thresholds
frozen on validation, and, as timm saves its args beside a run, the complete
resolved config of the run with the library versions it ran on.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import platform
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch
from torch import nn

from ..errors import UserError
from ..models import build_model
from ..preprocessing import Preprocessing
from ..storage import atomic_path
from .config import TrainConfig

LIBRARIES = ("torch", "torchvision", "numpy", "opencv-python-headless", "scikit-learn", "dvc")


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds chosen on validation and frozen; None where the task or data has none."""

    image: float | None = None
    study: float | None = None
    method: str | None = None
    target_sensitivity: float | None = None


@dataclass(frozen=True)
class CheckpointMetadata:
    arch: str
    width: int
    task: str
    classes: list[str]
    preprocessing: Preprocessing
    thresholds: Thresholds
    best_epoch: int
    config: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)

    @classmethod
    def of_run(cls, config: TrainConfig, classes: list[str], preprocessing: Preprocessing, thresholds: Thresholds,
               best_epoch: int) -> "CheckpointMetadata":
        return cls(config.arch, config.width, config.task, list(classes), preprocessing, thresholds, best_epoch,
                   asdict(config), library_versions())

    def to_dict(self) -> dict:
        values = asdict(self)
        values["preprocessing"] = self.preprocessing.to_dict()
        return values

    @classmethod
    def from_dict(cls, values: dict) -> "CheckpointMetadata":
        return cls(**{**values, "preprocessing": Preprocessing.from_dict(values["preprocessing"]),
                      "thresholds": Thresholds(**values["thresholds"])})


def library_versions() -> dict:
    """Python and the versions of the libraries that decide a run's numbers."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def save_checkpoint(path: Path | str, state_dict: dict, metadata: CheckpointMetadata) -> None:
    with atomic_path(path) as temporary:
        torch.save({"state_dict": {key: value.cpu() for key, value in state_dict.items()},
                    "metadata": metadata.to_dict()}, temporary)


def load_checkpoint(path: Path | str, device: torch.device | str = "cpu") -> tuple[nn.Module, CheckpointMetadata]:
    """The model in eval mode on `device`, and its metadata."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} not found; train a model first (dvc repro)")
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
        metadata = CheckpointMetadata.from_dict(saved["metadata"])
        model = build_model(metadata.arch, len(metadata.classes), pretrained=False, width=metadata.width)
        model.load_state_dict(saved["state_dict"])
    except (KeyError, TypeError, RuntimeError, EOFError, pickle.UnpicklingError) as error:
        raise UserError(f"{path} is not a checkpoint of this version of the project ({type(error).__name__}); "
                        f"retrain it (dvc repro)") from None
    return model.to(device).eval(), metadata


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
