"""Parse GRAZPEDWRI-DX (figshare article 14825193, CC BY 4.0) into a manifest.

Pediatric wrist radiographs: the images (`<filestem>.png`) come in several
zip parts and `dataset.csv` has a row per image with `filestem`,
`patient_id`, `projection` (1 AP, 2 lateral, 3 oblique) and
`fracture_visible` (1, or empty). A study is one patient's films at one time
point: the `timehash` column where present, else the file stem's second field
(`<patient>_<timehash>_<number>_...`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fracture.core.errors import UserError
from fracture.data.folder import DataFolder
from fracture.data.grouping import PATIENT
from fracture.data.sources.rows import FoundImage, image_row, rows_frame
from fracture.data.sources.tables import find_table, read_table

REQUIRED = ("filestem", "patient_id", "fracture_visible")
VIEWS = {"1": "frontal", "2": "lateral", "3": "oblique"}
# Carried as covariates where present; `metal` and `cast` are the shortcuts to watch (both follow fractures).
COVARIATES = ("gender", "age", "laterality", "metal", "cast", "osteopenia", "initial_exam")


def _flag(value: str) -> int:
    return int(value.strip() not in ("", "0", "0.0", "nan"))


def _study(entry: pd.Series) -> str:
    timehash = entry.get("timehash", "") or (entry["filestem"].split("_") + ["", ""])[1]
    return f"{entry['patient_id']}_{timehash}"


def parse_grazpedwri(folder: DataFolder, source: str = "grazpedwri") -> pd.DataFrame:
    index = find_table(folder, "dataset.csv", "GRAZPEDWRI-DX's index; data.path must hold it and the image zips")
    table = read_table(folder.root / index, folder.shown(index), REQUIRED)
    images = {Path(entry.relative).stem: entry.relative for entry in folder.images()
              if entry.relative.lower().endswith(".png")}
    rows = []
    for _, entry in table.iterrows():
        image = images.get(entry["filestem"])
        if image is None:
            continue
        found = FoundImage(
            image_id=entry["filestem"], patient_id=f"grazpedwri-{entry['patient_id']}",
            study_id=f"grazpedwri-{_study(entry)}", region="wrist", label=_flag(entry["fracture_visible"]),
            grouping=PATIENT, view=VIEWS.get(str(entry.get("projection", "")).strip().split(".")[0], ""),
            covariates={name: entry[name] for name in COVARIATES if name in table.columns})
        rows.append(image_row(folder, image, found, source))
    if not rows:
        raise UserError(f"none of the {len(table)} images in {folder.shown(index)} were found as <filestem>.png "
                        f"in {folder.shown()}")
    return rows_frame(rows)
