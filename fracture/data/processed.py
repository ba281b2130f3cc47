"""The enhance stage's output read back: a split's uint8 images as a tensor, with their manifest rows and labels.

Images stay uint8 until a batch is taken, which keeps a split small enough to
sit in (GPU) memory whole; conversion, augmentation and normalisation happen
per batch on the device.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from fracture.core.errors import UserError
from fracture.data.manifest import COLUMNS, read_manifest
from fracture.imaging.preprocessing import IMAGES_FILE, MANIFEST_FILE

FRACTURE_CLASSES = ["normal", "abnormal"]


@dataclass
class SplitData:
    images: torch.Tensor
    labels: torch.Tensor
    rows: pd.DataFrame

    def __len__(self) -> int:
        return len(self.labels)


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
    return SplitData(images, labels, rows.reset_index(drop=True))
