"""Using a trained model: probabilities for new radiographs, optionally with Grad-CAM.

The model is a PyTorch checkpoint (`.pt`) or its ONNX export (`.onnx`, run
by ONNX Runtime: this module and the ONNX path import no PyTorch). Both
give the same probabilities and decisions; Grad-CAM needs the checkpoint.

Inputs are image files (PNG, JPEG, TIFF, DICOM), folders (searched
recursively; DICOM found by content whatever its name) or a labels.csv (its
labels are checked and copied to the output). Each image is prepared exactly
as in training, by the checkpoint's `Preprocessing`: letterbox to its size,
its filter chain, its normalisation. An image that cannot be read, or that
the filter stage's rules (kept in the checkpoint) would reject as too small
or blank, gets a row with the reason instead of a probability; so does a
file in a folder, or a row of a labels.csv, that lies outside its folder
(through a link, `..` or an absolute path), which is never opened.

A fracture map model (`model.head: map`) also finds boxes: each scored
film's map peaks with their extent, or the box each peak's cell regressed
(fracture/inference/map_boxes.py), in
the film's own pixels, written to the CSV's `boxes` column (JSON: [x, y,
width, height, score] each), to a COCO file (`--boxes`: images, the boxes
as annotations with a score, read back by the `folder` source like an
annotator's file) and drawn on the film (`--draw`). The ONNX model finds
the same boxes.

Images are read, prepared and scored a batch at a time, so memory stays flat
however many there are. A name that is not UTF-8 is written with each such
byte as %XX (`datafolder.text_name`), so every scored row reaches the CSV; a
Grad-CAM overlay's file name is cut to fit any file system.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from fracture.core.errors import UserError
from fracture.data.folder import OUTSIDE, DataFolder, text_name
from fracture.data.sources.tables import LABELS_FILE, labels_of, read_table
from fracture.imaging.io import UnreadableImage, read_grayscale
from fracture.inference.map_boxes import map_boxes, on_film

log = logging.getLogger(__name__)
BATCH = 64  # images prepared, scored and let go at a time: memory does not grow with the inputs
STEM_BYTES = 100
OUTPUT_COLUMNS = ["path", "probability", "prediction", "label", "boxes", "error", "detail"]
BOXES_MARK = "fracture predict: a fracture map model's boxes"
MAX_MARK_BYTES = 64 * 1024  # KiB of a boxes file read to find predict's mark: far more than a data set's boxes


@dataclass(frozen=True)
class Item:
    """One input to score: its file, its known label ('' if none), and why it is not read ('' if it is)."""

    path: Path
    label: str = ""
    problem: str = ""


def _from_table(csv: Path, fracture_task: bool) -> list[Item]:
    folder = DataFolder(csv.parent)
    table = read_table(csv, str(csv), required=("path",))
    if fracture_task:
        labels = labels_of(table, str(csv), allow_empty=True).map(lambda value: "" if pd.isna(value) else
                                                                   str(int(value)))
    else:
        labels = table["label"].str.lower() if "label" in table.columns else pd.Series("", index=table.index)
    items = []
    for relative, label in zip(table["path"].str.replace("\\", "/"), labels):
        problem = folder.problem(relative) or ""
        items.append(Item(Path(relative) if problem == OUTSIDE else folder.root / relative, label, problem))
    return items


def gather(inputs: list[str], fracture_task: bool = True) -> list[Item]:
    """An item for every input: files, folders (their images), labels.csv files (their rows)."""
    items = []
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            items += [Item(entry.path, problem=OUTSIDE if entry.outside else "")
                      for entry in DataFolder(path).images()]
        elif path.name == LABELS_FILE or (path.suffix.lower() == ".csv" and path.is_file()):
            items += _from_table(path, fracture_task)
        else:
            items.append(Item(path))
    if not items:
        raise UserError("no images found in the inputs; give image files, folders or a labels.csv")
    return items


def open_model(path: Path, device: str = "auto"):
    """The model at `path`: an `OnnxModel` for a .onnx file (no PyTorch imported), else a `LoadedModel` on the
    device `--device` asks for."""
    if path.suffix.lower() == ".onnx":
        from fracture.inference.onnx_model import OnnxModel

        if device == "cuda":
            raise UserError("--device cuda: ONNX models run on the CPU here; use the .pt checkpoint on a GPU")
        return OnnxModel.load(path)
    from fracture.inference.device import resolve_device
    from fracture.inference.loaded_model import LoadedModel

    return LoadedModel.load(path, resolve_device(device, setting="--device"))


@dataclass
class Found:
    """What the fracture map found on each scored film: its boxes in the film's pixels and the film's size."""

    boxes: dict[int, list[dict]] = field(default_factory=dict)
    shapes: dict[int, tuple[int, int]] = field(default_factory=dict)


def predict(model, inputs: list[str], cam_dir: Path | None = None, draw_dir: Path | None = None,
            found: Found | None = None) -> pd.DataFrame:
    """A row per input: its probability and decision at the frozen threshold (and a map model's boxes), or why it
    was not scored; `found`, where given, collects the boxes by row, and `draw_dir` gets each film with them.

    `model` is what `open_model` gives."""
    preprocessing, threshold = model.preprocessing, model.threshold
    if cam_dir is not None and not hasattr(model, "overlays"):
        raise UserError("--cam: Grad-CAM needs the PyTorch checkpoint; give --model models/model.pt")
    if (draw_dir is not None or found is not None) and not model.has_map:
        raise UserError("--boxes and --draw need a fracture map model (trained with model.head: map); this one "
                        "has a global head")
    found = found if found is not None else Found()
    if model.quality is None:
        log.warning("the model keeps no quality rules (written before they were kept); images are not checked "
                    "for size or blankness")
    items = gather(inputs, fracture_task=threshold is not None)
    if cam_dir is not None:
        cam_dir.mkdir(parents=True, exist_ok=True)
    rows, ready = [], []
    for item in items:
        row = {"path": text_name(str(item.path)), "probability": None, "prediction": "", "label": item.label,
               "boxes": "", "error": item.problem, "detail": ""}
        if not item.problem:
            try:
                image = read_grayscale(item.path)
                if model.quality is not None:
                    model.quality.check(image)
                ready.append((len(rows), preprocessing(image), image if draw_dir is not None else image.shape))
            except UnreadableImage as error:
                row["error"], row["detail"] = error.reason, text_name(error.detail)
        rows.append(row)
        if len(ready) == BATCH:
            _score(model, ready, rows, cam_dir)
            _find(model, ready, rows, found, draw_dir)
            ready = []
    if ready:
        _score(model, ready, rows, cam_dir)
        _find(model, ready, rows, found, draw_dir)
    return pd.DataFrame(rows, columns=OUTPUT_COLUMNS)


def _find(model, batch: list[tuple], rows: list[dict], found: Found, draw_dir: Path | None) -> None:
    """A map model's boxes of one batch, on each film, in the rows and in `found`; drawn where asked."""
    if not model.has_map:
        return
    images = np.stack([item[1] for item in batch])
    for (index, _, film), logits in zip(batch, model.maps(images)):
        shape = film.shape if isinstance(film, np.ndarray) else film
        boxes = on_film(map_boxes(logits), shape, model.preprocessing)
        found.boxes[index], found.shapes[index] = boxes, tuple(shape)
        rows[index]["boxes"] = json.dumps([[round(value, 1) for value in item["box"]] + [round(item["score"], 4)]
                                           for item in boxes])
        if draw_dir is not None:
            Image.fromarray(drawn(film, boxes)).save(draw_dir / overlay_name(index, rows[index]["path"]))


def drawn(film: np.ndarray, boxes: list[dict]) -> np.ndarray:
    """The film in colour with each box in red and its score above it."""
    import cv2

    canvas = cv2.cvtColor(film, cv2.COLOR_GRAY2RGB)
    thickness = max(1, round(max(film.shape) / 300))
    for item in boxes:
        x, y, width, height = (round(value) for value in item["box"])
        cv2.rectangle(canvas, (x, y), (x + width, y + height), (255, 0, 0), thickness)
        cv2.putText(canvas, f"{item['score']:.2f}", (x, max(10, y - 3)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4 * thickness, (255, 0, 0), thickness)
    return canvas


def coco_boxes(table: pd.DataFrame, found: Found) -> dict:
    """The boxes as COCO: one image per scored film (file_name its path, width and height its own), one
    annotation per box with its score."""
    images, annotations = [], []
    for index, boxes in sorted(found.boxes.items()):
        height, width = found.shapes[index]
        images.append({"id": index + 1, "file_name": table["path"].iloc[index], "width": width, "height": height})
        annotations += [{"id": len(annotations) + number + 1, "image_id": index + 1, "category_id": 1,
                         "bbox": item["box"], "area": item["box"][2] * item["box"][3], "score": item["score"],
                         "iscrowd": 0, "segmentation": []} for number, item in enumerate(boxes)]
    return {"info": {"description": BOXES_MARK}, "images": images, "annotations": annotations,
            "categories": [{"id": 1, "name": "fracture"}]}


def refuse_foreign_boxes(path: Path) -> None:
    """One line, unless `path` is new or a COCO file that predict wrote: a user's own file is never replaced."""
    if not path.exists() and not path.is_symlink():
        return
    try:
        mark = json.loads(path.read_bytes()[:MAX_MARK_BYTES * 1024]).get("info", {}).get("description") \
            if path.is_file() and not path.is_symlink() else None
    except (OSError, ValueError, AttributeError, RecursionError):
        mark = None
    if mark != BOXES_MARK:
        raise UserError(f"--boxes {path} exists and was not written by predict; give a new file name")


def _score(model, batch: list[tuple], rows: list[dict], cam_dir: Path | None) -> None:
    """Fill the rows of one batch of prepared images (row index, image, film) and save their Grad-CAM overlays."""
    threshold, classes = model.threshold, model.classes
    images = np.stack([item[1] for item in batch])
    chosen = []
    for (index, *_), probability in zip(batch, model.scores(images)):
        if threshold is not None:
            rows[index]["probability"] = float(probability[1])
            rows[index]["prediction"] = str(int(probability[1] >= threshold))
            chosen.append(1)
        else:
            best = int(probability.argmax())
            rows[index]["probability"] = float(probability[best])
            rows[index]["prediction"] = classes[best]
            chosen.append(best)
    if cam_dir is not None:
        for (index, *_), overlay in zip(batch, model.overlays(images, chosen)):
            Image.fromarray(overlay).save(cam_dir / overlay_name(index, rows[index]["path"]))


def overlay_name(index: int, path: str) -> str:
    """The overlay's file name: the row's number, then the film's name cut to 100 bytes, so that any name fits
    a file system's 255."""
    stem = Path(path).stem.encode()[:STEM_BYTES].decode("utf-8", "ignore")
    return f"{index:05d}_{stem}.png"
