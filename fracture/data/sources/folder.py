"""A user's own labelled radiographs: a `labels.csv`, or one folder per class.

`labels.csv` needs `path` (relative to the CSV) and `label`; `region`,
`patient_id`, `study_id`, `view` are optional, and any other column (but one
that names images, such as a file name) is carried as a covariate, so that
subgroups and shortcuts can be measured. Without patient ids a `group`
or `pseudo_group` column is used as the grouping key, and failing that each
image is its own group (the log says that patient leakage cannot then be
ruled out); the `grouping` column records which. A path that is absolute,
climbs out of the folder with `..`, or leads through a link to outside the
folder is never read: its row goes on, unhashed, for the filter stage to
reject with its reason. The shallowest labels.csv is used; two at that depth
are an error, since using one would silently drop the other's images.
Without a CSV, class folders name the label (the nearest such folder above
an image): `normal`, `negative`, `0`, ... and `abnormal`, `fracture`,
`positive`, `1`, ... PNG, JPEG, TIFF and DICOM files are taken, DICOM by
content whatever its name.
"""

from __future__ import annotations

import logging
import posixpath
from pathlib import PurePosixPath

import pandas as pd

from fracture.core.errors import UserError
from fracture.data.covariates import carried_columns
from fracture.data.folder import OUTSIDE, DataFolder, without_image_suffix
from fracture.data.grouping import IMAGE, PATIENT, PSEUDO_PATIENT, USER_GROUP
from fracture.data.sources.rows import FoundImage, image_row, rows_frame
from fracture.data.sources.tables import LABELS_FILE, label_of, labels_of, read_table, readable

log = logging.getLogger(__name__)
ANNOTATIONS_FILE = "annotations.json"
READ_COLUMNS = {"path", "label", "region", "patient_id", "study_id", "view", "group", "pseudo_group"}


def _csv_rows(folder: DataFolder, csv_relative: str, source: str) -> pd.DataFrame:
    shown = folder.shown(csv_relative)
    table = read_table(folder.root / csv_relative, shown)
    labels = labels_of(table, shown)
    base = posixpath.dirname(csv_relative)
    group, grouping = _groups(table)
    if (grouping == IMAGE).any():
        log.warning(f"{shown}: {int((grouping == IMAGE).sum())} images have no patient_id or group; each is its "
                    f"own group, so leakage between splits of one patient's films cannot be ruled out")
    relatives = [posixpath.join(base, path.replace("\\", "/")) for path in table["path"]]
    outside = sum(folder.problem(relative) == OUTSIDE for relative in relatives)
    if outside:
        log.warning(f"{shown}: {outside} paths are absolute, climb out with '..' or lead through a link to outside "
                    f"the data folder; they are rejected unread (filter reason outside_data_folder)")
    study, region, view = (_column(table, name) for name in ("study_id", "region", "view"))
    covariates = carried_columns(table, READ_COLUMNS)
    rows = []
    for index, (path, relative) in enumerate(zip(table["path"], relatives)):
        image_id = without_image_suffix(path)
        found = FoundImage(image_id=image_id, patient_id=group[index] or image_id, study_id=study[index] or image_id,
                           region=region[index].lower() or "unspecified", label=int(labels[index]),
                           grouping=grouping[index], view=view[index].lower(),
                           covariates={name: table[name].iloc[index] for name in covariates})
        rows.append(image_row(folder, relative, found, source))
    return rows_frame(rows)


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
    return table[name] if name in table.columns else pd.Series("", index=table.index)


def _class_of(relative: str) -> int | None:
    """The label of the nearest folder above the image that names one."""
    labels = (label_of(part) for part in reversed(PurePosixPath(relative).parent.parts))
    return next((label for label in labels if label is not None), None)


def _from_class_folders(folder: DataFolder, source: str) -> pd.DataFrame:
    rows = []
    for entry in folder.images():
        label = _class_of(entry.relative)
        if label is None:
            continue
        image_id = without_image_suffix(entry.relative)
        found = FoundImage(image_id=image_id, patient_id=image_id, study_id=image_id, region="unspecified",
                           label=label, grouping=IMAGE)
        rows.append(image_row(folder, entry.relative, found, source))
    if not rows:
        raise UserError(f"no {LABELS_FILE} and no class folders (normal/abnormal, 0/1, ...) with images in "
                        f"{folder.shown()}")
    log.warning(f"{folder.shown()}: class folders carry no patient ids; each image is its own group")
    return rows_frame(rows)


def parse_folder(folder: DataFolder, source: str = "folder") -> pd.DataFrame:
    csvs = folder.find(LABELS_FILE)
    if not csvs:
        return _from_class_folders(folder, source)
    top = [entry for entry in csvs if entry.relative.count("/") == csvs[0].relative.count("/")]
    if len(top) > 1:
        names = ", ".join(folder.shown(entry.relative) for entry in top)
        raise UserError(f"{len(top)} {LABELS_FILE} files at the same depth ({names}); merge them into one "
                        f"{LABELS_FILE} above them (paths relative to it) or point data.path at one folder")
    if csvs[0].outside:
        raise UserError(f"{folder.shown(csvs[0].relative)} is a link to outside the data folder and is not read; "
                        f"copy the file into the folder")
    if len(csvs) > 1:
        log.warning(f"using {folder.shown(csvs[0].relative)}, the shallowest {LABELS_FILE}; ignoring "
                    f"{', '.join(folder.shown(entry.relative) for entry in csvs[1:])}")
    return _csv_rows(folder, csvs[0].relative, source)


def folder_annotations(folder: DataFolder, manifest: pd.DataFrame) -> tuple[str, dict[str, str]] | None:
    """The COCO `annotations.json` beside the labels.csv used (or at the top for class folders), if there is one,
    and its file names' image ids.

    Its `file_name`s are the labels.csv's paths (relative to the CSV), or the
    image paths in the folder for class folders.
    """
    csvs = folder.find(LABELS_FILE)
    base = posixpath.dirname(csvs[0].relative) if csvs else ""
    entry = next((entry for entry in folder.find(ANNOTATIONS_FILE)
                  if entry.relative == posixpath.join(base, ANNOTATIONS_FILE)), None)
    if entry is None:
        return None
    return readable(folder, entry), {posixpath.relpath(path, base or "."): image_id
                                     for path, image_id in zip(manifest["path"], manifest["image_id"])}
