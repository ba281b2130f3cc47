"""The export stage: the trained model as self-describing ONNX, its parity with PyTorch checked on the test split.

The graph holds what PyTorch does around the network (scaling to 0..1,
normalisation, softmax, and the mirror image when the model was trained with
`train.tta: hflip`), so a user gives it the preprocessed grey levels and gets
the probabilities the pipeline reports; the metadata says the rest (see
`inference.onnx_model`). Parity is the largest difference between ONNX
Runtime's and PyTorch's probabilities on the test images, and the share of
decisions it changes at the frozen threshold.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from .inference.model import LoadedModel
from .inference.onnx_model import INPUT, OUTPUT, OnnxModel, describe
from .storage import atomic_path

OPSET = 17  # LayerNormalization and every operator of torchvision's and timm's convolutional networks
PARITY_LIMIT = 1e-4


class Probabilities(nn.Module):
    """The network between grey levels (0..255) and class probabilities, as the pipeline applies it."""

    def __init__(self, model: LoadedModel):
        super().__init__()
        normalization = model.preprocessing.normalization
        self.network, self.hflip = model.network, model.metadata.tta == "hflip"
        self.mean, self.std = normalization.mean, normalization.std

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        inputs = (images / 255.0 - self.mean) / self.std
        probabilities = torch.softmax(self.network(inputs), dim=1)
        if self.hflip:
            probabilities = (probabilities + torch.softmax(self.network(inputs.flip(-1)), dim=1)) / 2
        return probabilities


def _description(model: LoadedModel) -> dict[str, str]:
    metadata = model.metadata
    trained_on = metadata.trained_on or {}
    hashes = trained_on.get("sha256", [])
    return describe({
        "arch": metadata.arch, "task": metadata.task, "classes": metadata.classes,
        "thresholds": dataclasses.asdict(metadata.thresholds), "preprocessing": metadata.preprocessing.to_dict(),
        "quality": dataclasses.asdict(metadata.quality) if metadata.quality else None, "tta": metadata.tta,
        "versions": metadata.versions, "config": metadata.config,
        "trained_on": {"images": trained_on.get("images"),
                       "sha256_of_sorted_hashes": hashlib.sha256("\n".join(hashes).encode()).hexdigest()
                       if hashes else None},
        "input": f"{INPUT}: float32 N x 1 x {metadata.preprocessing.image_size} x {metadata.preprocessing.image_size}"
                 f", grey levels 0..255 after the preprocessing's fit and filters",
    })


def export_onnx(model: LoadedModel, path: Path) -> None:
    """Write the model to `path` as ONNX with a dynamic batch, described by its metadata, checked by onnx."""
    size = model.preprocessing.image_size
    wrapper = Probabilities(model).eval()
    with atomic_path(path) as temporary, torch.no_grad():
        torch.onnx.export(wrapper, (torch.zeros(1, 1, size, size),), str(temporary), dynamo=False,
                          opset_version=OPSET, input_names=[INPUT], output_names=[OUTPUT],
                          dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}})
        graph = onnx.load(str(temporary))
        for key, value in _description(model).items():
            graph.metadata_props.add(key=key, value=value)
        graph.doc_string = f"fracture classifier ({model.metadata.arch}): {', '.join(model.classes)}"
        onnx.checker.check_model(graph)
        onnx.save(graph, str(temporary))


def parity(path: Path, model: LoadedModel, images: np.ndarray) -> dict:
    """How far ONNX Runtime's probabilities are from PyTorch's on `images` (uint8, N x size x size), and how many
    decisions at the frozen threshold (the top class for the region task) they change."""
    exported, reference = OnnxModel.load(path).scores(images), model.scores(images)
    if model.threshold is not None:
        changed = (exported[:, 1] >= model.threshold) != (reference[:, 1] >= model.threshold)
    else:
        changed = exported.argmax(axis=1) != reference.argmax(axis=1)
    return {"images": int(len(images)), "max_abs_difference": float(np.abs(exported - reference).max()),
            "changed_decisions": int(changed.sum()), "changed_share": float(changed.mean()),
            "limit": PARITY_LIMIT, "opset": OPSET, "arch": model.metadata.arch, "tta": model.metadata.tta}
