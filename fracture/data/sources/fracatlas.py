"""Parse FracAtlas (figshare article 22363012, CC BY 4.0) into a manifest.

`FracAtlas/dataset.csv` has one row per image: `image_id` (IMG0000000.jpg),
the region flags `hand`, `leg`, `hip`, `shoulder`, `mixed`, the view flags
`frontal`, `lateral`, `oblique`, `hardware`, `multiscan` and `fractured`;
images are under `images/Fractured/` and `images/Non_fractured/`.

FracAtlas publishes no patient ids, and consecutive image numbers often are
one patient's films. Grouping is therefore conservative: a run of
consecutive numbers whose region flags overlap is one pseudo-patient, and
exact duplicate images join their groups, so that no patient and no copy can
straddle splits. Nor does it record studies: each image is its own, so no
metric is called "per study" that is not.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path, PurePosixPath

import pandas as pd

from fracture.core.errors import UserError
from fracture.data.folder import DataFolder
from fracture.data.grouping import PSEUDO_PATIENT
from fracture.data.sources.rows import FoundImage, image_row, rows_frame
from fracture.data.sources.tables import find_table, read_table, readable

URL = "https://figshare.com/ndownloader/files/43283628"
# The publisher's checksum of that file (figshare lists an MD5 per file: api.figshare.com/v2/articles/22363012, its
# files' computed_md5), as md5:<hex>. Left empty: no public record of this file id's MD5 was found to pin, and none
# is made up. Until one is, a download is checked against the sha256 recorded when it completed.
CHECKSUM = ""
ANNOTATIONS_FILE = "COCO_fracture_masks.json"  # FracAtlas/Annotations/COCO JSON/
REGION_FLAGS = ("hand", "leg", "hip", "shoulder")
VIEW_FLAGS = ("frontal", "lateral", "oblique")
COVARIATES = ("hardware", "multiscan")  # hardware: only fractured films show implants, a shortcut to watch
REQUIRED = ("image_id", "fractured") + REGION_FLAGS


def _flags(row: pd.Series, names) -> set[str]:
    return {name for name in names if str(row.get(name, "0")).strip() in ("1", "1.0", "True")}


def _flag_text(value) -> str:
    text = str(value).strip()
    return {"1.0": "1", "True": "1", "0.0": "0", "False": "0"}.get(text, text)


def _region(flags: set[str]) -> str:
    return next(iter(flags)) if len(flags) == 1 else "mixed"


def _number(image_id: str) -> int:
    digits = re.findall(r"\d+", image_id)
    return int(digits[-1]) if digits else -1


def conservative_groups(numbers: list[int], region_flags: list[set[str]], hashes: list[str]) -> list[str]:
    """Pseudo-patient per image: runs of consecutive numbers with overlapping flags, merged over duplicates."""
    order = sorted(range(len(numbers)), key=lambda i: numbers[i])
    parent = list(range(len(numbers)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(a: int, b: int) -> None:
        parent[root(a)] = root(b)

    for previous, current in zip(order, order[1:]):
        if numbers[current] - numbers[previous] == 1 and (region_flags[current] & region_flags[previous]
                                                        or not region_flags[current] or not region_flags[previous]):
            join(current, previous)
    first_with_hash: dict[str, int] = {}
    for index, digest in enumerate(hashes):
        join(index, first_with_hash.setdefault(digest, index))
    first_number = {}
    for index in order:
        first_number.setdefault(root(index), numbers[index])
    return [f"fracatlas-group-{first_number[root(index)]:07d}" for index in range(len(numbers))]


def parse_fracatlas(folder: DataFolder, source: str = "fracatlas") -> pd.DataFrame:
    index = find_table(folder, "dataset.csv", "FracAtlas's index; data.path must be FracAtlas.zip or its folder")
    table = read_table(folder.root / index, folder.shown(index), REQUIRED)
    image_folder = posixpath.join(posixpath.dirname(index), "images") + "/"
    images = {PurePosixPath(entry.relative).name: entry.relative for entry in folder.images()
              if entry.relative.startswith(image_folder)}
    rows, flags = [], []
    for _, entry in table.iterrows():
        image = images.get(entry["image_id"])
        if image is None:
            continue  # listed but not shipped: nothing to screen
        region_flags = _flags(entry, REGION_FLAGS)
        views = _flags(entry, VIEW_FLAGS)
        found = FoundImage(
            image_id=Path(entry["image_id"]).stem, patient_id="", study_id="", region=_region(region_flags),
            label=int(entry["fractured"] in ("1", "1.0", "True")), grouping=PSEUDO_PATIENT,
            view=next(iter(views)) if len(views) == 1 else "",
            covariates={name: _flag_text(entry.get(name, "")) for name in COVARIATES if name in table.columns})
        rows.append(image_row(folder, image, found, source))
        flags.append(region_flags)
    if not rows:
        raise UserError(f"none of the images listed in {folder.shown(index)} were found in its images folder")
    groups = conservative_groups([_number(row["image_id"]) for row in rows], flags, [row["sha256"] for row in rows])
    for row, group in zip(rows, groups):
        row["patient_id"] = group
        row["study_id"] = row["image_id"]  # FracAtlas has no studies: a pseudo-patient is not one
    return rows_frame(rows)


def fracatlas_annotations(folder: DataFolder, manifest: pd.DataFrame) -> tuple[str, dict[str, str]] | None:
    """FracAtlas's own COCO boxes and outlines (`Annotations/COCO JSON/COCO_fracture_masks.json`), matched by file
    name: the file and its file names' image ids."""
    found = folder.find(ANNOTATIONS_FILE)
    if not found:
        return None
    return readable(folder, found[0]), {PurePosixPath(path).name: image_id
                                        for path, image_id in zip(manifest["path"], manifest["image_id"])}
