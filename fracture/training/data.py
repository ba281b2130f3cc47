"""Training batches: uint8 images to augmented, normalised floats on the training device."""

from __future__ import annotations

import torch

from fracture.imaging.preprocessing import Normalization
from fracture.inference.predictor import standardised, to_unit
from fracture.training.augment import AugmentConfig, augment


def prepare_batch(images: torch.Tensor, normalization: Normalization, device: torch.device,
                  augmentation: AugmentConfig | None = None, generator: torch.Generator | None = None,
                  channels_last: bool = False) -> torch.Tensor:
    """uint8 images to a normalised float batch on `device`, augmented when asked (as inference prepares them,
    with the augmentation between scaling and standardising)."""
    batch = to_unit(images, device)
    if augmentation is not None:
        batch = augment(batch, augmentation, generator)
    return standardised(batch, normalization, channels_last)
