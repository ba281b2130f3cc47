"""A user's own labelled radiographs: a `labels.csv`, or one folder per class.

`labels.csv` needs `path` (relative to the CSV) and `label`; `region`,
`patient_id`, `study_id`, `view` are optional. Without patient ids a `group`
or `pseudo_group` column is used as the grouping key, and failing that each
image is its own group (the log says that patient leakage cannot then be
ruled out). Without a CSV, class folders name the label: `normal`,
`negative`, `0`, ... and `abnormal`, `fracture`, `positive`, `1`, ...
PNG, JPEG, TIFF and DICOM files are taken.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from ..errors import UserError
from ..manifest import COLUMNS, file_sha256

log = logging.getLogger(__name__)
LABELS_FILE = "labels.csv"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".dcm", ".dicom"}
LABEL_WORDS = {
    0: {"0", "normal", "negative", "no_fracture", "nonfractured", "non_fractured", "non-fractured", "not_fractured"},
    1: {"1", "abnormal", "positive", "fracture", "fractured"},
}


def label_of(text: str) -> int | None:
    word = text.strip().lower().replace(" ", "_")
    if word in ("0.0", "1.0"):
        word = word[0]
    return next((label for label, words in LABEL_WORDS.items() if word in words), None)


def _from_csv(csv_path: Path, data_root: Path, source: str) -> pd.DataFrame:
    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    missing = [column for column in ("path", "label") if column not in table.columns]
    if missing:
        raise UserError(f"{csv_path} lacks columns {', '.join(missing)}; it needs at least path,label")
    labels = table["label"].map(label_of)
    bad = table.index[labels.isna()]
    if len(bad):
        first = bad[0]
        raise UserError(f"{csv_path} row {first + 2}: label {table.loc[first, 'label']!r} is not 0/1 or "
                        f"normal/abnormal ({len(bad)} such rows); fix the file")
    base = csv_path.parent
    image_ids = table["path"].map(lambda path: Path(path).with_suffix("").as_posix())
    group = _column(table, "patient_id")
    for fallback in ("group", "pseudo_group"):
        group = group.where(group != "", _column(table, fallback))
    if (group == "").any():
        log.warning(f"{csv_path}: {int((group == '').sum())} images have no patient_id or group; each is its own "
                    f"group, so leakage between splits of one patient's films cannot be ruled out")
    group = group.where(group != "", image_ids)
    study = _column(table, "study_id")
    return pd.DataFrame({
        "image_id": image_ids,
        "path": table["path"].map(lambda path: (base / path).relative_to(data_root).as_posix()),
        "patient_id": group,
        "study_id": study.where(study != "", image_ids),
        "region": _column(table, "region").str.strip().str.lower().replace("", "unspecified"),
        "label": labels.astype(int),
        "view": _column(table, "view").str.strip().str.lower(),
        "source": source,
        "source_split": "",
        "sha256": [file_sha256(base / path) if (base / path).is_file() else "missing:" + path for path in table["path"]],
    })[COLUMNS]


def _column(table: pd.DataFrame, name: str) -> pd.Series:
    return table[name].str.strip() if name in table.columns else pd.Series("", index=table.index)


def _from_class_folders(data_root: Path, source: str) -> pd.DataFrame:
    rows = []
    for folder in sorted(path for path in data_root.rglob("*") if path.is_dir()):
        label = label_of(folder.name)
        if label is None:
            continue
        for image in sorted(folder.rglob("*")):
            if image.suffix.lower() in IMAGE_SUFFIXES and image.is_file() and not image.name.startswith("."):
                image_id = image.relative_to(data_root).with_suffix("").as_posix()
                rows.append({"image_id": image_id, "path": image.relative_to(data_root).as_posix(),
                             "patient_id": image_id, "study_id": image_id, "region": "unspecified", "label": label,
                             "view": "", "source": source, "source_split": "", "sha256": file_sha256(image)})
    if not rows:
        raise UserError(f"no {LABELS_FILE} and no class folders (normal/abnormal, 0/1, ...) with images under "
                        f"{data_root}")
    log.warning(f"{data_root}: class folders carry no patient ids; each image is its own group")
    return pd.DataFrame(rows)[COLUMNS]


def parse_folder(data_root: Path, source: str = "folder") -> pd.DataFrame:
    csvs = sorted(data_root.rglob(LABELS_FILE), key=lambda path: len(path.parts))
    if csvs:
        return _from_csv(csvs[0], data_root, source)
    return _from_class_folders(data_root, source)
