"""Where the fractures are: the annotators' boxes and outlines, read from COCO files.

FracAtlas ships a box and an outline for every fracture, and a user's folder
may bring an `annotations.json` beside its labels.csv. Both are COCO:
`images[]` (`id`, `file_name`, `width`, `height`), `annotations[]`
(`image_id`, `bbox` as [x, y, width, height], `segmentation` as polygons
[[x1, y1, x2, y2, ...], ...]) in the image's own pixels. They are read into
one form keyed by the manifest's image ids, so that they can follow each
image through the pipeline and be scored against where a model looks.

A file that is not JSON or not COCO stops the stage with one line naming it.
A single annotation that cannot be used (a box with no area, not numbers,
lying outside its image, or for an image the data does not have) is left
out and counted by reason, as the filter stage counts images.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

from .errors import UserError

# A box may overshoot its image by this many pixels (annotation tools round outwards) and still count.
EDGE_TOLERANCE = 2.0
REJECTIONS = ("unknown_image", "bad_box", "box_outside_image")


def _numbers(values, count: int | None = None) -> list[float] | None:
    """Finite numbers, `count` of them where given; None otherwise."""
    if not isinstance(values, list) or (count is not None and len(values) != count):
        return None
    if not all(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
               for value in values):
        return None
    return [float(value) for value in values]


def _polygons(segmentation) -> list[list[float]]:
    """COCO polygons (flat x, y lists of three points or more); run-length masks and damaged ones are left out."""
    if not isinstance(segmentation, list):
        return []
    polygons = [_numbers(polygon) for polygon in segmentation]
    return [polygon for polygon in polygons if polygon and len(polygon) >= 6 and len(polygon) % 2 == 0]


def _inside(box: list[float], width: float, height: float) -> bool:
    x, y, w, h = box
    return x >= -EDGE_TOLERANCE and y >= -EDGE_TOLERANCE and x + w <= width + EDGE_TOLERANCE \
        and y + h <= height + EDGE_TOLERANCE


def _load(path: Path, shown: str) -> dict:
    try:
        document = json.loads(path.read_bytes())
    except OSError as error:
        raise UserError(f"{shown} cannot be read ({error.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"{shown} is not a JSON file ({error}); it must be COCO annotations") from None
    if not isinstance(document, dict) or not isinstance(document.get("images"), list) \
            or not isinstance(document.get("annotations"), list):
        raise UserError(f"{shown} is not COCO annotations: it needs 'images' and 'annotations' lists")
    return document


def read_coco(path: Path, shown: str, image_ids: dict[str, str]) -> tuple[dict[str, list[dict]], dict[str, int]]:
    """Boxes and outlines per image id, and the count of annotations left out per reason.

    `image_ids` maps a COCO `file_name` to the manifest's image id; `shown`
    names the file in errors as the user knows it.
    """
    document = _load(path, shown)
    sizes: dict[object, tuple[str | None, float, float]] = {}
    for index, image in enumerate(document["images"]):
        if not isinstance(image, dict) or "id" not in image or not isinstance(image.get("file_name"), str):
            raise UserError(f"{shown}: images[{index}] lacks an id or a file_name")
        size = _numbers([image.get("width"), image.get("height")], 2)
        if size is None or min(size) <= 0:
            raise UserError(f"{shown}: images[{index}] ({image['file_name']}) has no positive width and height")
        sizes[image["id"]] = (image_ids.get(image["file_name"].replace("\\", "/")), *size)
    found: dict[str, list[dict]] = {}
    left_out: Counter = Counter()
    for annotation in document["annotations"]:
        image_id, width, height = sizes.get(annotation.get("image_id") if isinstance(annotation, dict) else None,
                                            (None, 0.0, 0.0))
        if image_id is None:
            left_out["unknown_image"] += 1
            continue
        box = _numbers(annotation.get("bbox"), 4)
        if box is None or box[2] <= 0 or box[3] <= 0:
            left_out["bad_box"] += 1
        elif not _inside(box, width, height):
            left_out["box_outside_image"] += 1
        else:
            found.setdefault(image_id, []).append({"box": box, "polygons": _polygons(annotation.get("segmentation"))})
    return found, {reason: int(left_out[reason]) for reason in REJECTIONS}


def outlines(annotation: dict) -> list[list[float]]:
    """An annotation's outlines as flat x, y polygons: its own, or its box where it has none."""
    x, y, width, height = annotation["box"]
    return annotation["polygons"] or [[x, y, x + width, y, x + width, y + height, x, y + height]]
