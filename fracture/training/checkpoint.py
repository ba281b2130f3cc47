"""Saving a trained model with everything needed to use it later."""

from __future__ import annotations

import pickle
import hashlib
import json
from pathlib import Path

import torch
from torch import nn

from ..errors import UserError
from ..models import build_model
from ..storage import atomic_path


def save_checkpoint(path: Path | str, state_dict: dict, metadata: dict) -> None:
    """Weights plus metadata (arch, classes, image size, filters, normalisation, threshold)."""
    with atomic_path(path) as temporary:
        torch.save({"state_dict": state_dict, "metadata": metadata}, temporary)


def load_checkpoint(path: Path | str, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """The model in eval mode on `device`, and its metadata."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} not found; train a model first (dvc repro)")
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
        metadata = saved["metadata"]
        model = build_model(metadata["arch"], len(metadata["classes"]), pretrained=False,
                            width=metadata["width"])
        model.load_state_dict(saved["state_dict"])
    except (KeyError, RuntimeError, EOFError, pickle.UnpicklingError) as error:
        raise UserError(f"{path} is not a checkpoint of this project ({type(error).__name__}); retrain it") from None
    return model.to(device).eval(), metadata


def resume_fingerprint(params: dict, processed: Path, files=("manifest.csv", "preprocessing.json")) -> str:
    """Identifies a training run: its params and its data; a resume file from another run is ignored."""
    digest = hashlib.sha256(json.dumps({key: params.get(key) for key in ("base", "model", "train")},
                                       sort_keys=True).encode())
    for name in files:
        digest.update((processed / name).read_bytes())
    return digest.hexdigest()
