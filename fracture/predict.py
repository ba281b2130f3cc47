"""Using a trained model: probabilities for new radiographs, optionally with Grad-CAM.

Inputs are image files (PNG, JPEG, TIFF, DICOM), folders (searched
recursively) or a labels.csv (its labels are copied to the output). Each image
is prepared exactly as in training, by the checkpoint's `Preprocessing`:
letterbox to its size, its filter chain, its normalisation. A file that cannot be read
gets a row with the reason instead of a probability.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from .errors import UserError
from .explain import cam_overlays
from .imaging.io import UnreadableImage, read_grayscale
from .sources.folder import IMAGE_SUFFIXES, LABELS_FILE, label_of
from .training.checkpoint import load_checkpoint
from .training.loop import predict_probabilities

log = logging.getLogger(__name__)
BATCH = 64
OUTPUT_COLUMNS = ["path", "probability", "prediction", "label", "error"]


def gather(inputs: list[str]) -> list[tuple[Path, str]]:
    """(image path, known label or '') for every input: files, folders, labels.csv files."""
    items = []
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            items += [(file, "") for file in sorted(path.rglob("*"))
                      if file.is_file() and file.suffix.lower() in IMAGE_SUFFIXES and not file.name.startswith(".")]
        elif path.name == LABELS_FILE or (path.suffix.lower() == ".csv" and path.is_file()):
            table = pd.read_csv(path, dtype=str, keep_default_na=False)
            if "path" not in table.columns:
                raise UserError(f"{path} has no path column; a labels.csv needs path and, optionally, label")
            labels = table["label"] if "label" in table.columns else pd.Series("", index=table.index)
            items += [(path.parent / image, label) for image, label in zip(table["path"], labels)]
        else:
            items.append((path, ""))
    if not items:
        raise UserError("no images found in the inputs; give image files, folders or a labels.csv")
    return items


def _label_text(label: str, classes: list[str]) -> str:
    """The known label in the model's terms: 0/1 for fracture, the region name for the region task."""
    if not label:
        return ""
    if classes == ["normal", "abnormal"]:
        value = label_of(label)
        return "" if value is None else str(value)
    return label.strip().lower()


def predict(model_path: Path, inputs: list[str], device: torch.device, cam_dir: Path | None = None) -> pd.DataFrame:
    model, metadata = load_checkpoint(model_path, device)
    preprocessing, normalization = metadata.preprocessing, metadata.preprocessing.normalization
    classes, threshold = metadata.classes, metadata.thresholds.image
    rows, ready = [], []
    for path, label in gather(inputs):
        row = {"path": str(path), "probability": None, "prediction": "", "label": _label_text(label, classes),
               "error": ""}
        try:
            ready.append((len(rows), preprocessing(read_grayscale(path))))
        except UnreadableImage as error:
            row["error"] = error.reason
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
