"""The enhance stage's output read back: a split's uint8 images as a tensor, with their manifest rows, labels and
the annotators' boxes.

Images stay uint8 until a batch is taken, which keeps a split small enough to
sit in (GPU) memory whole; conversion, augmentation and normalisation happen
per batch on the device. Boxes are in the model input's pixels, as enhance
placed them, padded to one count per film so that a batch of them is taken
by the same indices as its images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from fracture.core.errors import UserError
from fracture.core.storage import read_json
from fracture.data.manifest import COLUMNS, read_manifest
from fracture.imaging.preprocessing import ANNOTATIONS_FILE, IMAGES_FILE, MANIFEST_FILE

FRACTURE_CLASSES = ["normal", "abnormal"]


@dataclass
class SplitData:
    images: torch.Tensor
    labels: torch.Tensor
    rows: pd.DataFrame
    boxes: torch.Tensor | None = None  # N x K x 4 (x, y, width, height); width 0 pads a film with fewer than K
    annotated: torch.Tensor | None = None  # N, whether a film has the annotators' boxes

    def __len__(self) -> int:
        return len(self.labels)


def box_table(image_ids, annotations: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Each film's boxes (N x K x 4, zero-padded) and whether it has any, from annotations keyed by image id."""
    found = [[item["box"] for item in annotations.get(image_id, [])] for image_id in image_ids]
    boxes = torch.zeros(len(found), max([1, *map(len, found)]), 4)
    for index, film in enumerate(found):
        if film:
            boxes[index, :len(film)] = torch.tensor(film, dtype=torch.float32)
    return boxes, torch.tensor([bool(film) for film in found], dtype=torch.bool)


def read_processed_manifest(folder: Path) -> pd.DataFrame:
    return read_manifest(folder / MANIFEST_FILE, required=COLUMNS + ["split"])


def task_classes(task: str, manifest: pd.DataFrame) -> tuple[list[str], list[str] | None]:
    """The class names, and for the region task the regions that are its classes."""
    if task == "fracture":
        return FRACTURE_CLASSES, None
    regions = sorted(manifest["region"].unique())
    if len(regions) < 2:
        raise UserError(f"model.task = 'region' needs at least two regions, the data has {regions}; "
                        f"set filter.regions to [all] or a list")
    return regions, regions


def load_split(folder: Path, split: str, regions: list[str] | None = None) -> SplitData:
    """The rows of `split` from the enhance stage's output.

    Labels are the fracture flag, or, given the list of `regions` (the region
    task's classes), each image's region index; `rows.label` follows suit.
    """
    manifest = read_processed_manifest(folder)
    array = np.load(folder / IMAGES_FILE, mmap_mode="r")
    rows = manifest[manifest["split"] == split]
    if rows.empty:
        raise UserError(f"the {split} split is empty; check split fractions and the data")
    if regions is not None:
        rows = rows.assign(label=rows["region"].map({region: index for index, region in enumerate(regions)}))
    images = torch.from_numpy(np.ascontiguousarray(array[rows.index.to_numpy()])).unsqueeze(1)
    labels = torch.tensor(rows["label"].to_numpy(), dtype=torch.long)
    placed = folder / ANNOTATIONS_FILE
    boxes, annotated = box_table(rows["image_id"], read_json(placed) if placed.is_file() else {})
    return SplitData(images, labels, rows.reset_index(drop=True), boxes, annotated)
