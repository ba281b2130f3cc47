"""A user's own labelled radiographs: a `labels.csv`, or one folder per class.

`labels.csv` needs `path` (relative to the CSV) and `label`; `region`,
`patient_id`, `study_id`, `view` are optional. Without patient ids a `group`
or `pseudo_group` column is used as the grouping key, and failing that each
image is its own group (the log says that patient leakage cannot then be
ruled out); the `grouping` column records which. A path that is absolute or
climbs out of the folder with `..` is never read: its row goes on, unhashed,
for the filter stage to reject with its reason. Without a CSV, class folders
name the label: `normal`, `negative`, `0`, ... and `abnormal`, `fracture`,
`positive`, `1`, ...
PNG, JPEG, TIFF and DICOM files are taken.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from ..errors import UserError
from ..grouping import IMAGE, PATIENT, PSEUDO_PATIENT, USER_GROUP
from ..manifest import COLUMNS, escapes, file_sha256

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
    group, grouping = _groups(table)
    if (grouping == IMAGE).any():
        log.warning(f"{csv_path}: {int((grouping == IMAGE).sum())} images have no patient_id or group; each is its "
                    f"own group, so leakage between splits of one patient's films cannot be ruled out")
    inside = table["path"].map(lambda path: not escapes(path))
    if not inside.all():
        log.warning(f"{csv_path}: {int((~inside).sum())} paths are absolute or climb out with '..'; they are "
                    f"rejected unread (filter reason outside_data_folder)")
    study = _column(table, "study_id")
    return pd.DataFrame({
        "image_id": image_ids,
        "path": [(base / path).relative_to(data_root).as_posix() if ok else path
                 for path, ok in zip(table["path"], inside)],
        "patient_id": group.where(group != "", image_ids),
        "study_id": study.where(study != "", image_ids),
        "region": _column(table, "region").str.strip().str.lower().replace("", "unspecified"),
        "label": labels.astype(int),
        "view": _column(table, "view").str.strip().str.lower(),
        "source": source,
        "source_split": "",
        "sha256": [("outside:" + path) if not ok else file_sha256(base / path) if (base / path).is_file()
                   else "missing:" + path for path, ok in zip(table["path"], inside)],
        "grouping": grouping,
    })[COLUMNS]


def _groups(table: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Each row's grouping key and its kind: a patient id, a user's group, a pseudo-group, or none.

    A patient_id that merely repeats the pseudo_group column (as in data sets
    that fill it with a heuristic) is a pseudo-patient, not a patient.
    """
    patient, group, pseudo = (_column(table, name) for name in ("patient_id", "group", "pseudo_group"))
    kind = pd.Series(IMAGE, index=table.index, dtype=object)
    kind[pseudo != ""] = PSEUDO_PATIENT
    kind[group != ""] = USER_GROUP
    kind[(patient != "") & (patient != pseudo)] = PATIENT
    key = pseudo.where(kind == PSEUDO_PATIENT, "").where(kind != USER_GROUP, group).where(kind != PATIENT, patient)
    return key, kind


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
                             "view": "", "source": source, "source_split": "", "sha256": file_sha256(image),
                             "grouping": IMAGE})
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
