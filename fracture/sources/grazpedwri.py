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

from ..errors import UserError
from ..grouping import PATIENT
from ..manifest import COLUMNS, file_sha256

REQUIRED = ("filestem", "patient_id", "fracture_visible")
VIEWS = {"1": "frontal", "2": "lateral", "3": "oblique"}


def _flag(value: str) -> int:
    return int(value.strip() not in ("", "0", "0.0", "nan"))


def _study(entry: pd.Series) -> str:
    timehash = entry.get("timehash", "") or (entry["filestem"].split("_") + ["", ""])[1]
    return f"{entry['patient_id']}_{timehash}"


def parse_grazpedwri(data_root: Path, source: str = "grazpedwri") -> pd.DataFrame:
    indexes = sorted(data_root.rglob("dataset.csv"))
    if not indexes:
        raise UserError(f"no GRAZPEDWRI-DX dataset.csv under {data_root}; data.path must hold it and the image zips")
    table = pd.read_csv(indexes[0], dtype=str, keep_default_na=False)
    missing = [column for column in REQUIRED if column not in table.columns]
    if missing:
        raise UserError(f"{indexes[0]} lacks GRAZPEDWRI-DX columns {', '.join(missing)}; "
                        f"found {', '.join(table.columns)}")
    images = {path.stem: path for path in data_root.rglob("*.png") if not path.name.startswith(".")}
    rows = []
    for _, entry in table.iterrows():
        image = images.get(entry["filestem"])
        if image is None:
            continue
        rows.append({
            "image_id": entry["filestem"],
            "path": image.relative_to(data_root).as_posix(),
            "patient_id": f"grazpedwri-{entry['patient_id']}",
            "study_id": f"grazpedwri-{_study(entry)}",
            "region": "wrist",
            "label": _flag(entry["fracture_visible"]),
            "view": VIEWS.get(str(entry.get("projection", "")).strip().split(".")[0], ""),
            "source": source,
            "source_split": "",
            "sha256": file_sha256(image),
            "grouping": PATIENT,
        })
    if not rows:
        raise UserError(f"none of the {len(table)} images in {indexes[0]} were found as <filestem>.png under "
                        f"{data_root}")
    return pd.DataFrame(rows)[COLUMNS]
