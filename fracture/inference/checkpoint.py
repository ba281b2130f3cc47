"""A trained model saved with everything needed to use and to reproduce it, and loaded back.

The metadata is typed: the architecture and its classes, the preprocessing
the model was trained on (size, filters, normalisation), the thresholds
frozen on validation, the filter stage's quality rules, and, as timm saves
its args beside a run, the complete resolved config of the run with the
versions it ran on (this project's included). A checkpoint whose metadata no
longer fits this version (a renamed filter option, an unknown architecture)
is one line naming the file, the field and the version that wrote it. A
checkpoint written by a newer version of this project is one line too;
other libraries' versions that differ from the installed ones are a warning.
"""

from __future__ import annotations

import inspect
import logging
import math
import pickle
import platform
from dataclasses import asdict, dataclass, field, fields
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch
from torch import nn

from .. import __version__
from ..errors import UserError
from ..imaging.filters import APPLY, FITS
from ..imaging.screening import QualityRules
from ..models import build_model, is_architecture
from ..preprocessing import Preprocessing
from ..storage import atomic_path

log = logging.getLogger(__name__)
TASKS = ("fracture", "region")
TTA_MODES = ("none", "hflip")  # test-time augmentation: the film alone, or the mean with its mirror image

LIBRARIES = ("torch", "torchvision", "numpy", "opencv-python-headless", "scikit-learn", "dvc")
NUMERICAL = ("torch", "torchvision", "numpy", "opencv-python-headless")  # those that compute a model's outputs


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
    quality: QualityRules | None = None  # None in checkpoints from before the rules were kept
    trained_on: dict | None = None  # the sha256 of every train and val image; None in older checkpoints
    tta: str = "none"  # what the thresholds were chosen with, so every use of the model applies it too

    def to_dict(self) -> dict:
        values = asdict(self)
        values["preprocessing"] = self.preprocessing.to_dict()
        return values

    @classmethod
    def from_dict(cls, values: dict) -> "CheckpointMetadata":
        """From a checkpoint's metadata; MetadataMismatch names the first field that does not fit this version."""
        _check_metadata(values)
        quality = values.get("quality")
        return cls(**{**values, "preprocessing": Preprocessing.from_dict(values["preprocessing"]),
                      "thresholds": Thresholds(**values["thresholds"]),
                      "quality": QualityRules(**quality) if quality else None})


class MetadataMismatch(Exception):
    """A checkpoint field that this version of the project cannot use."""

    def __init__(self, field_name: str, problem: str):
        super().__init__(f"{field_name} {problem}")


def _require(condition: bool, field_name: str, problem: str) -> None:
    if not condition:
        raise MetadataMismatch(field_name, problem)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_fields(values, known: set[str], required: set[str], where: str) -> None:
    _require(isinstance(values, dict), where, "is not a mapping")
    unknown = sorted(set(values) - known)
    _require(not unknown, f"{where}.{unknown[0] if unknown else ''}", "is unknown to this version")
    missing = sorted(required - set(values))
    _require(not missing, f"{where}.{missing[0] if missing else ''}", "is missing")


def _check_preprocessing(values) -> None:
    _check_fields(values, {"image_size", "filters", "normalization", "fit"}, {"image_size", "filters", "normalization"},
                  "preprocessing")  # `fit` came later: a checkpoint without it letterboxed
    _require(values.get("fit", "letterbox") in FITS, "preprocessing.fit",
             f"= {values.get('fit')!r} is not one of {', '.join(FITS)}")
    _require(isinstance(values["image_size"], int) and values["image_size"] > 0, "preprocessing.image_size",
             f"= {values['image_size']!r} is not a positive integer")
    _require(isinstance(values["filters"], list), "preprocessing.filters", "is not a list")
    for index, step in enumerate(values["filters"]):
        where = f"preprocessing.filters[{index}]"
        _check_fields(step, {"name", "options"}, {"name", "options"}, where)
        _require(step["name"] in APPLY, f"{where}.name", f"{step['name']!r} is not a filter of this version "
                                                          f"(known: {', '.join(APPLY)})")
        expected = set(list(inspect.signature(APPLY[step["name"]]).parameters)[1:])
        _require(isinstance(step["options"], dict) and set(step["options"]) == expected, f"{where}.options",
                 f"{sorted(step['options']) if isinstance(step['options'], dict) else step['options']!r} do not fit "
                 f"{step['name']}, which takes {sorted(expected)}")
        _require(all(_is_number(value) for value in step["options"].values()), f"{where}.options",
                 "holds a value that is not a number")
    normalization = values["normalization"]
    _require(normalization is not None, "preprocessing.normalization", "is missing (the model's input statistics)")
    _check_fields(normalization, {"mean", "std"}, {"mean", "std"}, "preprocessing.normalization")
    _require(_is_number(normalization["mean"]) and _is_number(normalization["std"]) and normalization["std"] > 0,
             "preprocessing.normalization", f"= {normalization!r} is not a finite mean and a positive std")


def _check_metadata(values) -> None:
    """Every field a model's use relies on, checked against this version before any is used."""
    known = {item.name for item in fields(CheckpointMetadata)}
    required = {item.name for item in fields(CheckpointMetadata)
                if item.name not in ("config", "versions", "quality", "trained_on", "tta")}
    _check_fields(values, known, required, "metadata")
    _require(isinstance(values["arch"], str) and is_architecture(values["arch"]), "arch",
             f"{values['arch']!r} is not an architecture of this version")
    _require(values.get("tta", "none") in TTA_MODES, "tta", f"= {values.get('tta')!r} is not one of "
                                                            f"{', '.join(TTA_MODES)}")
    _require(values["task"] in TASKS, "task", f"{values['task']!r} is not one of {', '.join(TASKS)}")
    _require(isinstance(values["width"], int) and values["width"] > 0, "width", "is not a positive integer")
    classes = values["classes"]
    _require(isinstance(classes, list) and len(classes) >= 2 and all(isinstance(name, str) for name in classes),
             "classes", f"= {classes!r} is not a list of two or more class names")
    _check_preprocessing(values["preprocessing"])
    thresholds = values["thresholds"]
    _check_fields(thresholds, {item.name for item in fields(Thresholds)}, set(), "thresholds")
    if values["task"] == "fracture":
        _require(_is_number(thresholds.get("image")), "thresholds.image", "is not a number (the frozen threshold)")
    trained_on = values.get("trained_on")
    if trained_on is not None:
        _check_fields(trained_on, {"images", "sha256"}, {"sha256"}, "trained_on")
        _require(isinstance(trained_on["sha256"], list), "trained_on.sha256", "is not a list of hashes")
    quality = values.get("quality")
    if quality is not None:
        _check_fields(quality, {"min_size", "min_std"}, {"min_size", "min_std"}, "quality")
        _require(isinstance(quality["min_size"], int) and _is_number(quality["min_std"]), "quality",
                 f"= {quality!r} is not an integer min_size and a number min_std")


def development_images(manifest) -> dict:
    """What the model was fitted and tuned on, so that an outside set can be proven not to overlap it."""
    used = manifest[manifest["split"].isin(["train", "val"])]
    return {"images": {split: int((manifest["split"] == split).sum()) for split in ("train", "val")},
            "sha256": sorted(used["sha256"])}


def written_by(versions) -> str:
    """The versions a checkpoint says wrote it, for messages."""
    versions = versions if isinstance(versions, dict) else {}
    project = (f"fracture {versions['fracture']}" if versions.get("fracture") else
               "a version of fracture before 0.2.0 (the first to record its own)")
    return project + (f" with torch {versions['torch']}" if versions.get("torch") else "")


def library_versions() -> dict:
    """This project's version, Python's and those of the libraries that decide a run's numbers."""
    versions = {"fracture": __version__, "python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def _release(text) -> tuple[int, ...]:
    """(major, minor) of a version string such as '2.15.0+cu132'; () where it has none."""
    parts = str(text or "").split("+")[0].split(".")[:2]
    return tuple(int(part) for part in parts) if all(part.isdigit() for part in parts) else ()


def compare_versions(path: Path, versions: dict) -> None:
    """A checkpoint of a newer release of this project may mean what this one cannot read: one line. Other
    libraries that differ from the installed ones can move probabilities in their last digits: a warning."""
    if _release(versions.get("fracture")) > _release(__version__):
        raise UserError(f"{path} was written by fracture {versions['fracture']}, newer than this {__version__}; "
                        f"install that version to use it")
    installed = library_versions()
    differ = [f"{name} {versions[name]} (installed: {installed.get(name)})" for name in NUMERICAL
              if versions.get(name) and installed.get(name) and versions[name] != installed[name]]
    if differ:
        log.warning(f"{path} was written with {', '.join(differ)}; its probabilities may differ in the last digits")


def save_checkpoint(path: Path | str, state_dict: dict, metadata: CheckpointMetadata) -> None:
    with atomic_path(path) as temporary:
        torch.save({"state_dict": {key: value.cpu() for key, value in state_dict.items()},
                    "metadata": metadata.to_dict()}, temporary)


def load_checkpoint(path: Path | str, device: torch.device | str = "cpu") -> tuple[nn.Module, CheckpointMetadata]:
    """The model in eval mode on `device`, and its metadata."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a folder; give the checkpoint file (the train stage writes models/model.pt)")
    if not path.is_file():
        raise UserError(f"{path} not found; train a model first (dvc repro)")
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError) as error:
        raise UserError(f"{path} is not a checkpoint that torch can read ({type(error).__name__}); retrain it "
                        f"(dvc repro)") from None
    if not isinstance(saved, dict) or not isinstance(saved.get("metadata"), dict) or "state_dict" not in saved:
        raise UserError(f"{path} is not a checkpoint of this project (no metadata and state_dict); retrain it "
                        f"(dvc repro)")
    written = written_by(saved["metadata"].get("versions"))
    try:
        metadata = CheckpointMetadata.from_dict(saved["metadata"])
    except MetadataMismatch as error:
        raise UserError(f"{path}: {error}; it was written by {written}, this is fracture {__version__}: retrain it "
                        f"(dvc repro) or use the version that wrote it") from None
    compare_versions(path, metadata.versions)
    model = build_model(metadata.arch, len(metadata.classes), pretrained=False, width=metadata.width)
    try:
        model.load_state_dict(saved["state_dict"])
    except (RuntimeError, TypeError, AttributeError) as error:
        raise UserError(f"{path}: the weights do not fit {metadata.arch} ({str(error).splitlines()[0]}); it was "
                        f"written by {written}: retrain it (dvc repro)") from None
    return model.to(device).eval(), metadata
