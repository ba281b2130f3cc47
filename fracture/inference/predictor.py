"""Probabilities of a model for uint8 images: batched, on a device, with optional test-time augmentation.

Images stay uint8 until a batch is taken; each batch becomes the network's
input through `ModelInput`, exactly as in training. On CUDA the forward pass
runs in float16 autocast (and, by `ModelInput.on`, channels-last memory).
With `tta = hflip` a film's probabilities are the mean of its own and its
mirror image's: the training augmentation flips films, so both are films
the model knows, and the thresholds chosen on validation with the same
setting apply.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fracture.inference.presets import ModelInput
from fracture.models.fracture_map import FractureMap

EVAL_BATCH = 128


def batch_indices(count: int, batch_size: int, generator: torch.Generator | None = None):
    """Index tensors covering 0..count-1, shuffled when a generator is given."""
    order = torch.randperm(count, generator=generator) if generator is not None else torch.arange(count)
    return order.split(batch_size)


@dataclass(frozen=True)
class Calibration:
    """How a network's probabilities are made readable: log-probabilities divided by `temperature`, the last
    class's raised by `bias`, renormalised. On a binary task that is z / T + b on the log-odds: temperature
    scaling (Guo et al., 2017) with bias 0, Platt scaling otherwise, which also undoes the shift in prevalence
    that class weights cause. Both move no film's rank, so no AUC."""
    temperature: float = 1.0
    bias: float = 0.0

    def apply(self, probabilities: torch.Tensor) -> torch.Tensor:
        if self.temperature == 1.0 and self.bias == 0.0:
            return probabilities
        logits = torch.log(probabilities.clamp_min(1e-12)) / self.temperature
        if self.bias:
            logits = torch.cat([logits[:, :-1], logits[:, -1:] + self.bias], dim=1)
        return torch.softmax(logits, dim=1)

    def inverse(self) -> "Calibration":
        """The calibration that gives back the network's own probabilities."""
        return Calibration(1 / self.temperature, -self.bias * self.temperature)


def tta_probabilities(network: nn.Module, inputs: torch.Tensor, tta: str,
                      calibration: Calibration = Calibration()) -> torch.Tensor:
    """Softmax probabilities of a standardised batch, averaged with its mirror image's for `hflip`, calibrated;
    the ONNX export traces this same function into its graph."""
    views = [inputs, inputs.flip(-1)] if tta == "hflip" else [inputs]
    return calibration.apply(sum(torch.softmax(network(view).float(), dim=1) for view in views) / len(views))


@torch.no_grad()
def predict_probabilities(model: nn.Module, images: torch.Tensor, inputs: ModelInput, tta: str = "none",
                          batch_size: int = EVAL_BATCH, calibration: Calibration = Calibration()) -> torch.Tensor:
    """Softmax probabilities (N x classes) on CPU, in float32."""
    model.eval()
    device = inputs.device
    outputs = []
    for indices in batch_indices(len(images), batch_size):
        with torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda"):
            probabilities = tta_probabilities(model, inputs(images[indices]), tta, calibration)
        outputs.append(probabilities.cpu())
    return torch.cat(outputs)


@torch.no_grad()
def predict_maps(model: nn.Module, images: torch.Tensor, inputs: ModelInput,
                 batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """A fracture map model's map, upsampled (bilinear) to the input's size: N x C x H x W, on CPU, in float32;
    channel 0 the fracture logits, then, where the map regresses its boxes, each cell's box corners. Logits, not
    probabilities: a sure map's float32 probabilities are 1.0 over many cells, and its peak would be the first of
    them."""
    if not isinstance(model, FractureMap):
        raise TypeError(f"{type(model).__name__} has no fracture map")
    model.eval()
    device, outputs = inputs.device, []
    for indices in batch_indices(len(images), batch_size):
        with torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda"):
            cells = model.outputs(inputs(images[indices]))[1].float()
        outputs.append(upsampled_map(cells, images.shape[-2:]).cpu())
    return torch.cat(outputs)


def upsampled_map(cells: torch.Tensor, size) -> torch.Tensor:
    """A map's cells (N x C x h x w) at the input's size (N x C x H x W); the ONNX graph traces this."""
    return F.interpolate(cells, size=tuple(size), mode="bilinear", align_corners=False)
