"""Boxes from a fracture map: each peak of a region where the map leans towards fracture, with its extent.

The map's logits (at the input's size) are cut at REGION_LEVEL; inside each
8-connected region above it, the cells within PEAK_DROP logits of the
region's peak make the boxes: each connected part its own box around it,
scored by the map's highest probability inside, so the detection metrics can
rank every peak of every film. A stride-8 map blurs a 15-pixel fracture over
a wider region; boxing the whole region above one half (the first rule) found
0.210 of fold 0's validation fractures at 1 false positive a film, and
this rule 0.420 (docs/studies/fracture_map.md, "Boxes from the map"); the rule is
fixed rather than chosen on each run's validation films, which on four runs
found no more fractures on their test films than this one. A map that
regresses its boxes (`model.map_box: regressed`) finds its peaks the same
way, and each peak's box is the one regressed at the peak's pixel; boxes of
one fracture found from two peaks overlap, and the lower-scored is dropped
where it overlaps a kept one by NMS_IOU (non-maximum suppression, OpenCV's).
Numpy, scipy and OpenCV only: the ONNX path, without PyTorch, draws the same
boxes from the same map.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from fracture.imaging.filters import content_box
from fracture.imaging.preprocessing import Preprocessing

REGION_LEVEL = -1.0  # the logit of probability 0.27: chosen with PEAK_DROP on fold 0's validation films
PEAK_DROP = 0.25  # logits below a region's peak that still belong to its box
NMS_IOU = 0.5  # as COCO's AP@0.5 counts a second box on a found fracture a false positive
MAX_BOXES = 20  # per film, the highest-scored first: more regions than this are noise, not fractures


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(logits, -60, 60)))


def map_boxes(film_map: np.ndarray, level: float = REGION_LEVEL, drop: float = PEAK_DROP) -> list[dict]:
    """The boxes ([x, y, width, height] in pixel edges of the map's square) and scores of one film's map (H x W
    logits, or C x H x W: the logits, then each pixel's regressed box corners), highest score first."""
    film_map = film_map[None] if film_map.ndim == 2 else film_map
    logits, connectivity = film_map[0], np.ones((3, 3), dtype=int)
    regions, count = ndimage.label(logits > level, structure=connectivity)
    if count == 0:
        return []
    region_peaks = np.concatenate([[0.0], ndimage.maximum(logits, regions, index=np.arange(1, count + 1))])
    cores, count = ndimage.label((regions > 0) & (logits >= region_peaks[regions] - drop), structure=connectivity)
    labels = np.arange(1, count + 1)
    scores = sigmoid(ndimage.maximum(logits, cores, index=labels))
    if len(film_map) > 1:
        found = _regressed(film_map[1:], ndimage.maximum_position(logits, cores, index=labels), scores)
    else:
        found = [{"box": [float(columns.start), float(rows.start), float(columns.stop - columns.start),
                          float(rows.stop - rows.start)], "score": float(score)}
                 for (rows, columns), score in zip(ndimage.find_objects(cores), scores)]
    return sorted(found, key=lambda item: -item["score"])[:MAX_BOXES]


def _regressed(corners: np.ndarray, peaks: list[tuple[int, int]], scores: np.ndarray) -> list[dict]:
    """The box each peak (row, column) regressed, clipped to the square, overlapping ones suppressed."""
    import cv2

    size = corners.shape[-1]
    boxes = []
    for row, column in peaks:
        x0, y0, x1, y1 = np.clip(corners[:, row, column], 0.0, size).tolist()
        boxes.append([x0, y0, x1 - x0, y1 - y0])
    shown = [index for index, box in enumerate(boxes) if box[2] > 0 and box[3] > 0]  # none clipped away
    kept = [shown[index] for index in np.asarray(cv2.dnn.NMSBoxes(
        [boxes[index] for index in shown], scores[shown].tolist(), 0.0, NMS_IOU), dtype=int).ravel()]
    return [{"box": boxes[index], "score": float(scores[index])} for index in kept]


def on_film(boxes: list[dict], shape: tuple[int, int], preprocessing: Preprocessing) -> list[dict]:
    """Boxes in the model square's pixels moved onto the film of `shape` (rows, columns) they were found on: the
    inverse of `Preprocessing.place`, clipped to the film."""
    content = content_box(shape, preprocessing.image_size, preprocessing.fit)
    scale_x, scale_y = shape[1] / content.width, shape[0] / content.height
    moved = []
    for item in boxes:
        x, y, width, height = item["box"]
        left, top = max(0.0, (x - content.left) * scale_x), max(0.0, (y - content.top) * scale_y)
        right = min(float(shape[1]), (x + width - content.left) * scale_x)
        bottom = min(float(shape[0]), (y + height - content.top) * scale_y)
        if right > left and bottom > top:
            moved.append({"box": [left, top, right - left, bottom - top], "score": item["score"]})
    return moved
