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

import copy
import dataclasses
import hashlib
import io
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from fracture.core.errors import UserError
from fracture.core.paths import MODEL
from fracture.core.storage import atomic_path
from fracture.inference.loaded_model import LoadedModel
from fracture.inference.onnx_model import BOX_OUTPUT, INPUT, MAP_OUTPUT, OUTPUT, OnnxModel, describe
from fracture.inference.predictor import tta_probabilities, upsampled_map
from fracture.inference.presets import ModelInput

OPSET = 17  # LayerNormalization and every operator of torchvision's and timm's convolutional networks
# Two runtimes sum float32 in other orders: a pretrained efficientnet_lite0 differed by 1.03e-04 on the 691 test films
# of a FracAtlas cross-validation fold (no decision changed), over the first limit of 1e-4. A graph that computes
# something else differs by tenths; 1e-3 tells the two apart and moves no reported figure at three decimals.
PARITY_LIMIT = 1e-3
# The fracture map's logits (of order 1 to 30) summed in two orders differ in the sixth figure; 1e-2 moves no peak
# and no box (map_boxes cuts at a logit of -1 and a quarter of a logit under each peak).
MAP_PARITY_LIMIT = 1e-2
BOX_PARITY_LIMIT = 0.05  # input pixels: a twentieth of a pixel moves no box a user can see


class AveragingMatrices(nn.Module):
    """AdaptiveAvgPool2d for one input size, as two averaging matrices. The legacy ONNX exporter cannot export an
    adaptive pool whose output size does not divide its input size (vgg16's 7 x 7 pool after a 4 x 4 map at
    128 px); the input size is fixed by the preprocessing, so the pool is a fixed linear map."""

    def __init__(self, size_in: tuple[int, int], size_out: tuple[int, int]):
        super().__init__()
        self.register_buffer("rows", _averaging(size_in[0], size_out[0]))
        self.register_buffer("columns", _averaging(size_in[1], size_out[1]))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.einsum("oh,nchw,pw->ncop", self.rows, features, self.columns)


def _averaging(size_in: int, size_out: int) -> torch.Tensor:
    """Row i averages the inputs AdaptiveAvgPool's window i covers: floor(i n / m) to ceil((i + 1) n / m)."""
    matrix = torch.zeros(size_out, size_in)
    for row in range(size_out):
        start, end = row * size_in // size_out, -(-(row + 1) * size_in // size_out)
        matrix[row, start:end] = 1.0 / (end - start)
    return matrix


def exportable(network: nn.Module, image_size: int) -> nn.Module:
    """A copy of `network` whose adaptive average pools that ONNX cannot express at this input size are
    `AveragingMatrices`."""
    network = copy.deepcopy(network).eval()
    shapes = {}
    hooks = [module.register_forward_hook(
        lambda module, inputs, output: shapes.__setitem__(module, (inputs[0].shape[-2:], output.shape[-2:])))
        for module in network.modules() if isinstance(module, nn.AdaptiveAvgPool2d)]
    with torch.no_grad():
        network(torch.zeros(1, 1, image_size, image_size))
    for hook in hooks:
        hook.remove()
    for parent in list(network.modules()):
        for name, child in list(parent.named_children()):
            if child in shapes:
                (rows_in, columns_in), (rows_out, columns_out) = shapes[child]
                if rows_in % rows_out or columns_in % columns_out:
                    setattr(parent, name, AveragingMatrices((rows_in, columns_in), (rows_out, columns_out)))
    return network


class Probabilities(nn.Module):
    """The network between grey levels (0..255) and class probabilities (calibrated), as the pipeline applies it;
    and, for a fracture map model, the map's logits at the input's size, a second output, and its regressed box
    corners, a third, where it has them."""

    def __init__(self, model: LoadedModel):
        super().__init__()
        self.network = exportable(model.network, model.preprocessing.image_size)
        self.inputs, self.tta = ModelInput(model.preprocessing.normalization, torch.device("cpu")), model.metadata.tta
        self.calibration, self.has_map = model.metadata.calibration, model.has_map
        self.regresses = model.metadata.head.regresses
        self.size = model.preprocessing.image_size

    def forward(self, images: torch.Tensor):
        inputs = self.inputs.standardised(images / 255.0)
        probabilities = tta_probabilities(self.network, inputs, self.tta, self.calibration)
        if not self.has_map:
            return probabilities
        maps = upsampled_map(self.network.outputs(inputs)[1], (self.size, self.size))
        return (probabilities, maps[:, 0], maps[:, 1:]) if self.regresses else (probabilities, maps[:, 0])


def _description(model: LoadedModel) -> dict[str, str]:
    metadata = model.metadata
    trained_on = metadata.trained_on or {}
    hashes = trained_on.get("sha256", [])
    return describe({
        "arch": metadata.arch, "task": metadata.task, "classes": metadata.classes,
        "thresholds": dataclasses.asdict(metadata.thresholds), "preprocessing": metadata.preprocessing.to_dict(),
        "quality": dataclasses.asdict(metadata.quality) if metadata.quality else None, "tta": metadata.tta,
        "head": metadata.head.to_dict(), "temperature": metadata.temperature,
        "calibration_bias": metadata.calibration_bias,
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
    outputs = [OUTPUT, MAP_OUTPUT, BOX_OUTPUT][:1 + model.has_map + model.metadata.head.regresses]
    exported = io.BytesIO()  # traced in memory, then described and written once
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # the map's cell count: fixed by the input size
            torch.onnx.export(wrapper, (torch.zeros(1, 1, size, size),), exported, dynamo=False,
                              opset_version=OPSET, input_names=[INPUT], output_names=outputs,
                              dynamic_axes={name: {0: "batch"} for name in [INPUT, *outputs]})
    except torch.onnx.OnnxExporterError as error:
        raise UserError(f"export: {model.metadata.arch} at {size} px cannot be exported to ONNX opset {OPSET} "
                        f"({str(error).splitlines()[0]}); the checkpoint {MODEL} is unaffected: use it, or "
                        f"report the architecture") from None
    graph = onnx.load_from_string(exported.getvalue())
    for key, value in _description(model).items():
        graph.metadata_props.add(key=key, value=value)
    graph.doc_string = f"fracture classifier ({model.metadata.arch}): {', '.join(model.classes)}"
    onnx.checker.check_model(graph)
    with atomic_path(path) as temporary:
        onnx.save(graph, str(temporary))


def parity(path: Path, model: LoadedModel, images: np.ndarray) -> dict:
    """How far ONNX Runtime's probabilities are from PyTorch's on `images` (uint8, N x size x size), and how many
    decisions at the frozen threshold (the top class for the region task) they change."""
    onnx_model = OnnxModel.load(path)
    exported, reference = onnx_model.scores(images), model.scores(images)
    maps = {}
    if model.has_map:
        difference = np.abs(onnx_model.maps(images) - model.maps(images))
        maps = {"map_max_abs_difference": float(difference[:, 0].max())}
        if difference.shape[1] > 1:
            maps["box_max_abs_difference"] = float(difference[:, 1:].max())  # in input pixels
    if model.threshold is not None:
        changed = (exported[:, 1] >= model.threshold) != (reference[:, 1] >= model.threshold)
    else:
        changed = exported.argmax(axis=1) != reference.argmax(axis=1)
    return {"images": int(len(images)), "max_abs_difference": float(np.abs(exported - reference).max()),
            "changed_decisions": int(changed.sum()), "changed_share": float(changed.mean()),
            "limit": PARITY_LIMIT, "opset": OPSET, "arch": model.metadata.arch, "tta": model.metadata.tta, **maps}
