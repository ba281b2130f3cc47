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

A map that regresses its boxes also gets each box's own mask, warped with
the others, so that a box's place after the warp (the extent of its mask:
a rotated box's enclosing box, as detection augmentations give it) is known;
every cell a box touches learns that box (the smallest, where boxes
overlap), through the generalised IoU loss (Rezatofighi et al., 2019) plus
the L1 distance of the logs of its sides' distances from the cell's centre,
each film's cells averaged, so that a large fracture counts as much as a
small one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torchvision.ops import generalized_box_iou_loss

from fracture.models.fracture_map import cell_centres
from fracture.training.crops import MASK_LEVEL

MIN_SIDE = 0.5  # pixels: a side nearer its cell's centre than this (or beyond it) counts as this near


def each_box_mask(boxes: torch.Tensor, size: int) -> torch.Tensor:
    """N x K x size x size: 1 where a pixel's centre lies inside the film's k-th box (N x K x 4, x y w h in pixel
    edges; width 0 is padding, and its mask is empty)."""
    centres = torch.arange(size, device=boxes.device, dtype=torch.float32) + 0.5
    x0, y0 = boxes[..., 0, None], boxes[..., 1, None]
    x1, y1 = x0 + boxes[..., 2, None], y0 + boxes[..., 3, None]
    columns = (centres >= x0) & (centres <= x1) & (boxes[..., 2, None] > 0)  # N x K x size
    rows = (centres >= y0) & (centres <= y1)
    return (rows[..., :, None] & columns[..., None, :]).float()


def box_masks(boxes: torch.Tensor, size: int) -> torch.Tensor:
    """N x 1 x size x size: 1 where a pixel's centre lies inside one of its film's boxes."""
    return each_box_mask(boxes, size).amax(dim=1, keepdim=True)


def _extent(present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The first and one past the last index where `present` (... x S, bool) holds (0, 0 where it never does)."""
    size = present.shape[-1]
    first = present.float().argmax(dim=-1)
    last = size - present.flip(-1).float().argmax(dim=-1)
    held = present.any(dim=-1)
    return torch.where(held, first, 0), torch.where(held, last, 0)


def box_targets(each: torch.Tensor, cells: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Each cell's box (N x 4 x h x w: x0, y0, x1, y1 in input pixels) and which cells have one (N x h x w), from
    each box's warped mask (N x K x S x S)."""
    present = each > MASK_LEVEL
    x0, x1 = _extent(present.any(dim=-2))  # N x K
    y0, y1 = _extent(present.any(dim=-1))
    corners = torch.stack([x0, y0, x1, y1], dim=-1).float()  # N x K x 4
    touched = F.adaptive_max_pool2d(present.float(), cells) > 0  # N x K x h x w
    area = ((x1 - x0) * (y1 - y0)).float()[..., None, None].expand_as(touched)
    smallest = torch.where(touched, area, torch.inf).argmin(dim=1)  # N x h x w
    targets = torch.gather(corners, 1, smallest.flatten(1)[..., None].expand(-1, -1, 4))  # N x hw x 4
    return targets.transpose(1, 2).reshape(len(each), 4, *cells), touched.any(dim=1)


@dataclass(frozen=True)
class MapTargets:
    """One batch's masks (N x 1 x size x size, in input pixels, already augmented; for a map that regresses its
    boxes, each box's own mask after the first: N x (1 + K)), which films they supervise, and the weight of the
    map's loss beside the image's."""

    masks: torch.Tensor
    supervised: torch.Tensor
    weight: float

    def loss(self, cells: torch.Tensor) -> torch.Tensor:
        """The map's loss over the supervised films of the batch (0 where none is), and, where the map regresses
        boxes (cells: N x 5 x h x w), the boxes' loss over the cells that have one."""
        if not bool(self.supervised.any()):
            return cells.sum() * 0.0  # keeps the graph whole, so that every rank's decoder gets a gradient
        logits = cells[self.supervised, :1].float()
        targets = F.adaptive_max_pool2d(self.masks[self.supervised, :1], logits.shape[-2:]).clamp(0, 1)
        cross = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").flatten(1)
        targets = targets.flatten(1)
        inside = (cross * targets).sum(1) / targets.sum(1).clamp_min(1e-6)
        outside = (cross * (1 - targets)).sum(1) / (1 - targets).sum(1).clamp_min(1e-6)
        has_box = targets.sum(1) > 0
        per_film = torch.where(has_box, 0.5 * (inside + outside), outside)
        loss = per_film.mean()
        if cells.shape[1] > 1:
            loss = loss + self.box_loss(cells[:, 1:].float())
        return self.weight * loss

    def box_loss(self, corners: torch.Tensor) -> torch.Tensor:
        """The boxes the cells regressed (N x 4 x h x w) against the boxes that touch them: the generalised IoU
        loss, plus the L1 distance of the log of each side's distance from the cell's centre (a box much larger
        than its target leaves the IoU loss almost no gradient to shrink it), each film's cells averaged, the
        films with a box averaged."""
        targets, assigned = box_targets(self.masks[:, 1:], corners.shape[-2:])
        if not bool(assigned.any()):
            return corners.sum() * 0.0
        films = assigned.flatten(1).sum(1)
        weights = (assigned / films.clamp_min(1)[:, None, None])[assigned]
        found, wanted = corners.permute(0, 2, 3, 1)[assigned], targets.permute(0, 2, 3, 1)[assigned]
        overlap = generalized_box_iou_loss(found, wanted, reduction="none")
        centres = _cell_centres(self.masks.shape[-1], assigned.shape, corners.device)[assigned]
        sides = (_sides(found, centres).clamp_min(MIN_SIDE).log() - _sides(wanted, centres).clamp_min(MIN_SIDE).log())
        return ((overlap + sides.abs().mean(dim=1)) * weights).sum() / (films > 0).sum()


def _cell_centres(size: int, shape: torch.Size, device: torch.device) -> torch.Tensor:
    """Each cell's centre (N x h x w x 2: x, y) in input pixels, for a batch of maps of `shape` (N x h x w)."""
    x, y = cell_centres(shape[-2:], size / shape[-1], device)
    return torch.stack(torch.meshgrid(x, y, indexing="xy"), dim=-1).expand(shape[0], -1, -1, -1)


def _sides(boxes: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """The distances (M x 4: left, top, right, bottom) from each centre (M x 2) to its box's sides (M x 4)."""
    return torch.cat([centres - boxes[:, :2], boxes[:, 2:] - centres], dim=1)


def supervised_films(labels: torch.Tensor, annotated: torch.Tensor) -> torch.Tensor:
    """Normal films, and fractured films with boxes: those whose map has a target."""
    return (labels == 0) | annotated
