"""Training on crops of a larger film: the detail of 448-512 px at the cost of 256-320 px steps.

A phalanx fracture is a few pixels wide at 224 px, and two CPU cores cannot
train many films at 448-512 px. A fracture map is fully convolutional, so it
can learn from squares cut out of the film and score the whole film at its
full size. Each film of a batch (its film and its box mask, already warped
by the augmentation) gives one square: around one of its boxes on
BOX_CROP_SHARE of the films that have one, anywhere on the rest, as on every
normal film, so the model sees fractures up close and the rest of a
fractured film as often as a normal one. The crop's label is what it shows:
a crop of an annotated fractured film that misses every box is a normal
crop; a fractured film without boxes (as in MURA) keeps its label.
"""

from __future__ import annotations

import torch

BOX_CROP_SHARE = 0.5
MASK_LEVEL = 0.5  # a warped mask is bilinear: a pixel at least half inside a box counts as the box's
JITTER = 0.25  # a box crop's centre lands within this share of the side from a point of the box


def crop_origins(masks: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """N x 2 (top, left) of each film's square of `size` pixels (masks: N x 1 x H x W)."""
    n, _, height, width = masks.shape
    draws = torch.rand(n, 4, generator=generator, dtype=torch.float64)
    origins = torch.stack([draws[:, 0] * (height - size + 1), draws[:, 1] * (width - size + 1)], 1).floor().long()
    inside = masks[:, 0] > MASK_LEVEL
    for film in range(n):
        points = torch.nonzero(inside[film]).cpu()
        if len(points) == 0 or draws[film, 2] >= BOX_CROP_SHARE:
            continue
        point = points[min(len(points) - 1, int(draws[film, 3] * len(points)))]
        shift = ((draws[film, :2] * 2 - 1) * JITTER * size).long()
        origins[film] = point - size // 2 + shift
    limits = torch.tensor([height - size, width - size])
    return torch.minimum(origins.clamp_min(0), limits)


def crop_batch(batch: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """A float batch of films and their masks (N x 2 x H x W) cut to N x 2 x size x size."""
    origins = crop_origins(batch[:, 1:], size, generator).tolist()
    return torch.stack([film[:, top:top + size, left:left + size] for film, (top, left) in zip(batch, origins)])


def crop_labels(labels: torch.Tensor, annotated: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """What each crop shows: fractured where it holds a box's pixel, normal where its annotated fractured film's
    boxes fell outside it, and the film's label where the film has no boxes."""
    shows_box = (masks.flatten(1) > MASK_LEVEL).any(dim=1)
    return torch.where(annotated.to(labels.device) & (labels == 1), shows_box.to(labels), labels)
