"""The manifest: the CSV, one row per image, that every stage passes on.

`path` is relative to the data folder that holds the images (`data/raw`).
`grouping` says what `patient_id` is (see `grouping.py`). Columns after the
contract's are a stage's own (`split`) or covariates (`cov_*`, see
`covariates.py`), which every stage passes on.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fracture.core.errors import UserError
from fracture.core.storage import atomic_path

COLUMNS = ["image_id", "path", "patient_id", "study_id", "region", "label", "view",
           "source", "source_split", "sha256", "grouping"]
SPLITS = ("train", "val", "test")


def read_manifest(path: Path | str, required: list[str] = COLUMNS) -> pd.DataFrame:
    """Load a manifest, checking it has the columns a stage relies on."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} not found; run the stages before this one (dvc repro)")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)  # covariates too stay text: "01" is not 1
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise UserError(f"{path} lacks columns {', '.join(missing)}; rerun the stage that wrote it")
    frame["label"] = frame["label"].astype(int)
    return frame


def write_manifest(frame: pd.DataFrame, path: Path | str) -> None:
    """Write the manifest atomically with the contract's columns first."""
    empty = [column for column in ("image_id", "patient_id", "study_id") if (frame[column] == "").any()]
    if empty:
        raise ValueError(f"manifest has empty {', '.join(empty)}: every source must fill its grouping keys")
    extra = [column for column in frame.columns if column not in COLUMNS]
    with atomic_path(path) as temporary:
        frame[COLUMNS + extra].to_csv(temporary, index=False)


def label_counts(manifest: pd.DataFrame) -> dict:
    """Images per region and label, as plain ints for JSON."""
    counts = {}
    for region, rows in manifest.groupby("region"):
        counts[region] = {"abnormal": int((rows["label"] == 1).sum()), "normal": int((rows["label"] == 0).sum())}
    return counts
