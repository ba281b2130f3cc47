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

import logging
import pickle
import platform
from dataclasses import asdict, dataclass, field, fields
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch
from torch import nn

from fracture import __version__
from fracture.core.errors import UserError
from fracture.core.storage import atomic_path
from fracture.imaging.preprocessing import Preprocessing
from fracture.imaging.screening import QualityRules
from fracture.inference.metadata import (
    WIDTH,
    MetadataMismatch,
    Thresholds,
    check_fields,
    check_use,
    require,
    shown,
    written_by,
)
from fracture.inference.predictor import Calibration
from fracture.models.architectures import build_model, is_architecture
from fracture.models.fracture_map import FUSIONS, HEADS, MAP_BOXES, MAP_STRIDES, POOLINGS, HeadSpec

log = logging.getLogger(__name__)

LIBRARIES = ("torch", "torchvision", "numpy", "opencv-python-headless", "scikit-learn", "dvc")
NUMERICAL = ("torch", "torchvision", "numpy", "opencv-python-headless")  # those that compute a model's outputs


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
    head: HeadSpec = HeadSpec()  # a global head in checkpoints from before the fracture map
    temperature: float = 1.0  # fitted on validation (train.calibration); 1 in checkpoints from before it
    calibration_bias: float = 0.0  # Platt's shift, fitted with it; 0 in checkpoints from before it

    @property
    def calibration(self) -> Calibration:
        return Calibration(self.temperature, self.calibration_bias)

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
                      "head": HeadSpec(**values.get("head", {})),
                      "quality": QualityRules(**quality) if quality else None})


def _check_metadata(values) -> None:
    """Every field of a checkpoint, checked against this version and its bounds before any is used."""
    known = {item.name for item in fields(CheckpointMetadata)}
    required = {item.name for item in fields(CheckpointMetadata)
                if item.name not in ("config", "versions", "quality", "trained_on", "tta", "head", "temperature",
                                  "calibration_bias")}
    check_fields(values, known, required, "metadata")
    require(isinstance(values["arch"], str) and is_architecture(values["arch"]), "arch",
            f"{shown(values['arch'])} is not an architecture of this version")
    require(WIDTH.admits(values["width"]), "width", f"= {shown(values['width'])} is not {WIDTH}")
    require(isinstance(values["best_epoch"], int) and not isinstance(values["best_epoch"], bool), "best_epoch",
            "is not an integer")
    for name in ("config", "versions"):
        require(isinstance(values.get(name, {}), dict), name, "is not a mapping")
    check_use(values)
    head = values.get("head", {})
    required = {"kind", "pooling", "fusion"} if head else set()  # stride and box: HeadSpec's in older checkpoints
    check_fields(head, {"kind", "pooling", "fusion", "stride", "box"}, required, "head")
    for key, choices in (("kind", HEADS), ("pooling", POOLINGS), ("fusion", FUSIONS), ("stride", MAP_STRIDES),
                         ("box", MAP_BOXES)):
        value, default = head.get(key, getattr(HeadSpec(), key)), getattr(HeadSpec(), key)
        require(type(value) is type(default) and value in choices, f"head.{key}",
                f"= {shown(head.get(key))} is not one of {', '.join(map(str, choices))}")
    trained_on = values.get("trained_on")
    if trained_on is not None:
        check_fields(trained_on, {"images", "sha256"}, {"sha256"}, "trained_on")
        require(isinstance(trained_on["sha256"], list) and all(isinstance(item, str) for item in trained_on["sha256"]),
                "trained_on.sha256", "is not a list of hashes")


def development_images(manifest) -> dict:
    """What the model was fitted and tuned on, so that an outside set can be proven not to overlap it."""
    used = manifest[manifest["split"].isin(["train", "val"])]
    return {"images": {split: int((manifest["split"] == split).sum()) for split in ("train", "val")},
            "sha256": sorted(used["sha256"])}


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
    try:
        model = build_model(metadata.arch, len(metadata.classes), pretrained=False, width=metadata.width,
                            head=metadata.head)
    except UserError as error:
        raise UserError(f"{path}: {error}") from None
    try:
        model.load_state_dict(saved["state_dict"])
    except (RuntimeError, TypeError, AttributeError) as error:
        raise UserError(f"{path}: the weights do not fit {metadata.arch} ({str(error).splitlines()[0]}); it was "
                        f"written by {written}: retrain it (dvc repro)") from None
    return model.to(device).eval(), metadata
