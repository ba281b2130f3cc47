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

Images are read, prepared and scored a batch at a time, so memory stays flat
however many there are. A name that is not UTF-8 is written with each such
byte as %XX (`datafolder.text_name`), so every scored row reaches the CSV; a
Grad-CAM overlay's file name is cut to fit any file system.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from fracture.core.errors import UserError
from fracture.data.folder import OUTSIDE, DataFolder, text_name
from fracture.data.sources.tables import LABELS_FILE, labels_of, read_table
from fracture.imaging.io import UnreadableImage, read_grayscale

log = logging.getLogger(__name__)
BATCH = 64  # images prepared, scored and let go at a time: memory does not grow with the inputs
STEM_BYTES = 100
OUTPUT_COLUMNS = ["path", "probability", "prediction", "label", "error", "detail"]


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


def predict(model, inputs: list[str], cam_dir: Path | None = None) -> pd.DataFrame:
    """A row per input: its probability and decision at the frozen threshold, or why it was not scored.

    `model` is what `open_model` gives."""
    preprocessing, threshold = model.preprocessing, model.threshold
    if cam_dir is not None and not hasattr(model, "overlays"):
        raise UserError("--cam: Grad-CAM needs the PyTorch checkpoint; give --model models/model.pt")
    if model.quality is None:
        log.warning("the model keeps no quality rules (written before they were kept); images are not checked "
                    "for size or blankness")
    items = gather(inputs, fracture_task=threshold is not None)
    if cam_dir is not None:
        cam_dir.mkdir(parents=True, exist_ok=True)
    rows, ready = [], []
    for item in items:
        row = {"path": text_name(str(item.path)), "probability": None, "prediction": "", "label": item.label,
               "error": item.problem, "detail": ""}
        if not item.problem:
            try:
                image = read_grayscale(item.path)
                if model.quality is not None:
                    model.quality.check(image)
                ready.append((len(rows), preprocessing(image)))
            except UnreadableImage as error:
                row["error"], row["detail"] = error.reason, text_name(error.detail)
        rows.append(row)
        if len(ready) == BATCH:
            _score(model, ready, rows, cam_dir)
            ready = []
    if ready:
        _score(model, ready, rows, cam_dir)
    return pd.DataFrame(rows, columns=OUTPUT_COLUMNS)


def _score(model, batch: list[tuple[int, np.ndarray]], rows: list[dict], cam_dir: Path | None) -> None:
    """Fill the rows of one batch of prepared images (row index, image) and save their Grad-CAM overlays."""
    threshold, classes = model.threshold, model.classes
    images = np.stack([image for _, image in batch])
    chosen = []
    for (index, _), probability in zip(batch, model.scores(images)):
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
        for (index, _), overlay in zip(batch, model.overlays(images, chosen)):
            Image.fromarray(overlay).save(cam_dir / overlay_name(index, rows[index]["path"]))


def overlay_name(index: int, path: str) -> str:
    """The overlay's file name: the row's number, then the film's name cut to 100 bytes, so that any name fits
    a file system's 255."""
    stem = Path(path).stem.encode()[:STEM_BYTES].decode("utf-8", "ignore")
    return f"{index:05d}_{stem}.png"
