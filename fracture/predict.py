"""Using a trained model: probabilities for new radiographs, optionally with Grad-CAM.

Inputs are image files (PNG, JPEG, TIFF, DICOM), folders (searched
recursively; DICOM found by content whatever its name) or a labels.csv (its
labels are checked and copied to the output). Each image is prepared exactly
as in training, by the checkpoint's `Preprocessing`: letterbox to its size,
its filter chain, its normalisation. An image that cannot be read, or that
the filter stage's rules (kept in the checkpoint) would reject as too small
or blank, gets a row with the reason instead of a probability; so does a
file in a folder, or a row of a labels.csv, that lies outside its folder
(through a link, `..` or an absolute path), which is never opened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from .datafolder import OUTSIDE, DataFolder
from .errors import UserError
from .explain import cam_overlays
from .imaging.io import UnreadableImage, read_grayscale
from .inference.checkpoint import load_checkpoint
from .inference.predictor import predict_probabilities
from .sources.tables import LABELS_FILE, labels_of, read_table

log = logging.getLogger(__name__)
BATCH = 64
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


def predict(model_path: Path, inputs: list[str], device: torch.device, cam_dir: Path | None = None) -> pd.DataFrame:
    model, metadata = load_checkpoint(model_path, device)
    preprocessing, normalization = metadata.preprocessing, metadata.preprocessing.normalization
    classes, threshold = metadata.classes, metadata.thresholds.image
    if metadata.quality is None:
        log.warning(f"{model_path} keeps no quality rules (written before they were kept); images are not checked "
                    f"for size or blankness")
    rows, ready = [], []
    for item in gather(inputs, fracture_task=threshold is not None):
        row = {"path": str(item.path), "probability": None, "prediction": "", "label": item.label,
               "error": item.problem, "detail": ""}
        if not item.problem:
            try:
                image = read_grayscale(item.path)
                if metadata.quality is not None:
                    metadata.quality.check(image)
                ready.append((len(rows), preprocessing(image)))
            except UnreadableImage as error:
                row["error"], row["detail"] = error.reason, error.detail
        rows.append(row)
    if cam_dir is not None:
        cam_dir.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(ready), BATCH):
        batch = ready[start:start + BATCH]
        images = torch.from_numpy(np.stack([image for _, image in batch])).unsqueeze(1)
        probabilities = predict_probabilities(model, images, normalization, device).numpy()
        chosen = []
        for (index, _), probability in zip(batch, probabilities):
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
            for (index, _), overlay in zip(batch, cam_overlays(model, images, normalization, chosen, device)):
                Image.fromarray(overlay).save(cam_dir / f"{index:05d}_{Path(rows[index]['path']).stem}.png")
    return pd.DataFrame(rows, columns=OUTPUT_COLUMNS)
