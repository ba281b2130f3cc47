"""What a network takes, built from uint8 images: one object for training and for every use after it.

As torchvision's `references/classification/presets.py` gives each use one
object, `ModelInput` turns a batch of the enhance stage's uint8 images into
the network's input: onto the device, scaled to 0..1, augmented (training
only, between scaling and standardising), standardised by the checkpoint's
normalisation, and channels-last where that is faster. Training, validation,
the thresholds' scores, evaluate, predict, Grad-CAM and the ONNX graph all
take their input from here, so none can drift from the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from fracture.imaging.preprocessing import Normalization


@dataclass(frozen=True)
class ModelInput:
    normalization: Normalization
    device: torch.device
    channels_last: bool = False

    @classmethod
    def on(cls, normalization: Normalization, device: torch.device) -> "ModelInput":
        """As inference takes it: channels-last on CUDA, where its convolutions are faster."""
        return cls(normalization, device, channels_last=device.type == "cuda")

    def __call__(self, images: torch.Tensor,
                 augment: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        """uint8 images (N x 1 x H x W) as the network takes them; `augment` sees the 0..1 batch."""
        batch = images.to(self.device, non_blocking=True).float().div_(255.0)
        if augment is not None:
            batch = augment(batch)
        return self.standardised(batch)

    def with_masks(self, images: torch.Tensor, masks: torch.Tensor,
                   augment: Callable[[torch.Tensor], torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """As calling it, with masks (N x 1 x H x W, 0..1) that the augmentation warps with their films."""
        batch = images.to(self.device, non_blocking=True).float().div_(255.0)
        if augment is not None:
            both = augment(torch.cat([batch, masks.to(batch)], dim=1))
            batch, masks = both[:, :1], both[:, 1:]
        return self.standardised(batch), masks.to(batch)

    def standardised(self, batch: torch.Tensor) -> torch.Tensor:
        """A 0..1 batch standardised (the ONNX graph traces this from its own scaling)."""
        batch = (batch - self.normalization.mean) / self.normalization.std
        return batch.contiguous(memory_format=torch.channels_last) if self.channels_last else batch
