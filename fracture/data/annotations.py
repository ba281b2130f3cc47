"""Where the fractures are: the annotators' boxes and outlines, read from COCO files.

FracAtlas ships a box and an outline for every fracture, and a user's folder
may bring an `annotations.json` beside its labels.csv. Both are COCO:
`images[]` (`id`, `file_name`, `width`, `height`), `annotations[]`
(`image_id`, `bbox` as [x, y, width, height], `segmentation` as polygons
[[x1, y1, x2, y2, ...], ...]) in the image's own pixels. They are read into
one form keyed by the manifest's image ids, so that they can follow each
image through the pipeline and be scored against where a model looks.

A file that is not JSON or not COCO stops the stage with one line naming it:
so does one over MAX_FILE_BYTES (parsing takes about seven times a file's
size in memory: a 34 MiB file grew the process by 233 MiB, so the cap holds
it under a GiB, and it leaves room for some 100,000 films with a 100-point
outline each, where FracAtlas's file is about 1 MiB), one nested too deeply
for Python's parser, one holding a number of more digits than Python reads,
and an image entry without an integer or string id or a finite positive
size. A single annotation that cannot be used (a box with no area, not
numbers, lying outside its image, for an image the data does not have, or an
outline of more than MAX_OUTLINE_POINTS points) is left out and counted by
reason, as the filter stage counts images. The outline cap bounds the time
of scoring a model's map against the outlines (each outline is tested
against every pixel of the model's input): annotators draw tens of points,
and FracAtlas's longest has 15.
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from pathlib import Path

from fracture.core.errors import UserError

# A box may overshoot its image by this many pixels (annotation tools round outwards) and still count.
EDGE_TOLERANCE = 2.0
REJECTIONS = ("unknown_image", "bad_box", "box_outside_image", "outline_too_long")
MAX_FILE_BYTES = 128 * 2**20
MAX_OUTLINE_POINTS = 10_000


def _number(value) -> float | None:
    """A finite number as a float; None for anything else, an integer too large for a float included."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _numbers(values, count: int | None = None) -> list[float] | None:
    """Finite numbers, `count` of them where given; None otherwise."""
    if not isinstance(values, list) or (count is not None and len(values) != count):
        return None
    numbers = [_number(value) for value in values]
    return None if None in numbers else numbers


def _polygons(segmentation) -> list[list[float]]:
    """COCO polygons (flat x, y lists of three points or more); run-length masks and damaged ones are left out."""
    if not isinstance(segmentation, list):
        return []
    polygons = [_numbers(polygon) for polygon in segmentation]
    return [polygon for polygon in polygons if polygon and len(polygon) >= 6 and len(polygon) % 2 == 0]


def _too_long(segmentation) -> bool:
    """Whether any of an annotation's outlines has more than MAX_OUTLINE_POINTS points."""
    return isinstance(segmentation, list) and any(isinstance(polygon, list) and len(polygon) > 2 * MAX_OUTLINE_POINTS
                                                  for polygon in segmentation)


def _is_id(value) -> bool:
    """COCO ids are integers (strings in some tools' files); anything else names no image."""
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _inside(box: list[float], width: float, height: float) -> bool:
    x, y, w, h = box
    return x >= -EDGE_TOLERANCE and y >= -EDGE_TOLERANCE and x + w <= width + EDGE_TOLERANCE \
        and y + h <= height + EDGE_TOLERANCE


def _load(path: Path, shown: str) -> dict:
    try:
        with path.open("rb") as file:
            text = file.read(MAX_FILE_BYTES + 1)  # read no further than the cap, whatever the file's size says
    except OSError as error:
        raise UserError(f"{shown} cannot be read ({error.strerror})") from None
    if len(text) > MAX_FILE_BYTES:
        raise UserError(f"{shown} is over {MAX_FILE_BYTES >> 20} MiB, more than COCO annotations of a data set of "
                        f"films need; leave it out of the data folder, or split the data set")
    try:
        document = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"{shown} is not a JSON file ({error}); it must be COCO annotations") from None
    except RecursionError:
        raise UserError(f"{shown} nests lists or objects too deeply for COCO annotations; it is not one") from None
    except ValueError:  # Python refuses integers of more than sys.get_int_max_str_digits() digits
        raise UserError(f"{shown} holds a number of more than {sys.get_int_max_str_digits()} digits; it is not "
                        f"COCO annotations") from None
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
        if not _is_id(image["id"]):
            raise UserError(f"{shown}: images[{index}] ({image['file_name'][:200]!r}) has an id that is not an "
                            f"integer or a string")
        size = _numbers([image.get("width"), image.get("height")], 2)
        if size is None or min(size) <= 0:
            raise UserError(f"{shown}: images[{index}] ({image['file_name'][:200]!r}) has no positive width and "
                            f"height (finite numbers)")
        sizes[image["id"]] = (image_ids.get(image["file_name"].replace("\\", "/")), *size)
    found: dict[str, list[dict]] = {}
    left_out: Counter = Counter()
    for annotation in document["annotations"]:
        named = annotation.get("image_id") if isinstance(annotation, dict) else None
        image_id, width, height = sizes.get(named, (None, 0.0, 0.0)) if _is_id(named) else (None, 0.0, 0.0)
        if image_id is None:
            left_out["unknown_image"] += 1
            continue
        box = _numbers(annotation.get("bbox"), 4)
        if box is None or box[2] <= 0 or box[3] <= 0:
            left_out["bad_box"] += 1
        elif not _inside(box, width, height):
            left_out["box_outside_image"] += 1
        elif _too_long(annotation.get("segmentation")):
            left_out["outline_too_long"] += 1
        else:
            found.setdefault(image_id, []).append({"box": box, "polygons": _polygons(annotation.get("segmentation"))})
    return found, {reason: int(left_out[reason]) for reason in REJECTIONS}


def outlines(annotation: dict) -> list[list[float]]:
    """An annotation's outlines as flat x, y polygons: its own, or its box where it has none."""
    x, y, width, height = annotation["box"]
    return annotation["polygons"] or [[x, y, x + width, y, x + width, y + height, x, y + height]]
