"""Random augmentation of a whole batch at once, on whatever device it lives.

One affine warp per image (rotation, scale, shear, translation, optional
flips) through `grid_sample`, then a brightness factor. Random numbers come
from a seeded CPU generator, so a run is the same on CPU and GPU draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    rotation: float = 0.0
    scale: float = 0.0
    shear: float = 0.0
    translate: float = 0.0
    brightness: float = 0.0
    hflip: bool = False
    vflip: bool = False

    @property
    def active(self) -> bool:
        return any((self.rotation, self.scale, self.shear, self.translate, self.brightness, self.hflip, self.vflip))


def _uniform(n: int, spread: float, generator: torch.Generator) -> torch.Tensor:
    return (torch.rand(n, generator=generator, dtype=torch.float64) * 2 - 1) * spread


def _flips(n: int, enabled: bool, generator: torch.Generator) -> torch.Tensor:
    draws = torch.rand(n, generator=generator, dtype=torch.float64)
    return torch.where((draws < 0.5) & enabled, -1.0, 1.0).to(torch.float64)


def affine_matrices(n: int, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """N x 2 x 3 matrices mapping output to input coordinates, as `affine_grid` expects."""
    angle = _uniform(n, math.radians(config.rotation), generator)
    zoom = 1 + _uniform(n, config.scale, generator)
    shear = _uniform(n, math.radians(config.shear), generator)
    shift = _uniform(2 * n, config.translate * 2, generator).view(n, 2)
    flip_x, flip_y = _flips(n, config.hflip, generator), _flips(n, config.vflip, generator)
    cos, sin, tan = torch.cos(angle), torch.sin(angle), torch.tan(shear)
    a = torch.stack([torch.stack([cos, -sin + cos * tan], -1), torch.stack([sin, cos + sin * tan], -1)], -2)
    a = a / zoom.view(n, 1, 1) * torch.stack([flip_x, flip_y], -1).view(n, 1, 2)
    return torch.cat([a, shift.view(n, 2, 1)], dim=2)


def augment(batch: torch.Tensor, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Augment a float batch (N x C x H x W, values 0..1): channel 0 is the film; any other channel (a fracture
    map's target mask) is warped with it and keeps its values."""
    if not config.active:
        return batch
    n = batch.shape[0]
    theta = affine_matrices(n, config, generator).to(device=batch.device, dtype=batch.dtype)
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    warped = F.grid_sample(batch, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    factor = (1 + _uniform(n, config.brightness, generator)).to(device=batch.device, dtype=batch.dtype)
    warped[:, :1] = (warped[:, :1] * factor.view(n, 1, 1, 1)).clamp_(0, 1)
    return warped
