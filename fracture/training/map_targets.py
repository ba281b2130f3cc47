"""What a fracture map learns from: the annotators' boxes as masks, warped with their films, and the map's loss.

A fractured film with boxes teaches its map to be high inside them and low
elsewhere; a normal film, low everywhere; a fractured film without boxes (as
in MURA) teaches nothing about where, and trains the image loss only. The
masks are drawn in the model input's pixels, warped by the same random
affine as their film (`augment`), and max-pooled onto the map's cells, so
every cell a box touches has the target 1 (a fracture narrower than a cell
still marks one). A box is a few cells among hundreds, so a film's loss is
the mean of its cells' binary cross-entropy inside the boxes and the mean
outside them, each weighted by its target: the fracture counts as much as
the rest of the film.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def box_masks(boxes: torch.Tensor, size: int) -> torch.Tensor:
    """N x 1 x size x size: 1 where a pixel's centre lies inside one of its film's boxes (N x K x 4, x y w h in
    pixel edges; width 0 is padding)."""
    centres = torch.arange(size, device=boxes.device, dtype=torch.float32) + 0.5
    x0, y0 = boxes[..., 0, None], boxes[..., 1, None]
    x1, y1 = x0 + boxes[..., 2, None], y0 + boxes[..., 3, None]
    columns = (centres >= x0) & (centres <= x1) & (boxes[..., 2, None] > 0)  # N x K x size
    rows = (centres >= y0) & (centres <= y1)
    return (rows[..., :, None] & columns[..., None, :]).any(dim=1, keepdim=True).float()


@dataclass(frozen=True)
class MapTargets:
    """One batch's masks (N x 1 x size x size, in input pixels, already augmented), which films they supervise,
    and the weight of the map's loss beside the image's."""

    masks: torch.Tensor
    supervised: torch.Tensor
    weight: float

    def loss(self, cells: torch.Tensor) -> torch.Tensor:
        """The map's loss over the supervised films of the batch (0 where none is)."""
        if not bool(self.supervised.any()):
            return cells.sum() * 0.0  # keeps the graph whole, so that every rank's decoder gets a gradient
        logits = cells[self.supervised].float()
        targets = F.adaptive_max_pool2d(self.masks[self.supervised], logits.shape[-2:]).clamp(0, 1)
        cross = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").flatten(1)
        targets = targets.flatten(1)
        inside = (cross * targets).sum(1) / targets.sum(1).clamp_min(1e-6)
        outside = (cross * (1 - targets)).sum(1) / (1 - targets).sum(1).clamp_min(1e-6)
        has_box = targets.sum(1) > 0
        per_film = torch.where(has_box, 0.5 * (inside + outside), outside)
        return self.weight * per_film.mean()


def supervised_films(labels: torch.Tensor, annotated: torch.Tensor) -> torch.Tensor:
    """Normal films, and fractured films with boxes: those whose map has a target."""
    return (labels == 0) | annotated
