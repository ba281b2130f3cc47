"""The one way a source describes an image it found: a manifest row."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from fracture.data.covariates import prefixed
from fracture.data.folder import DataFolder
from fracture.data.manifest import COLUMNS


@dataclass(frozen=True)
class FoundImage:
    """What a source reads about one image from its tables or its folder's names: the manifest row but its file's
    path and hash. `grouping` says what `patient_id` is (source patients, pseudo-patients, a user's groups)."""

    image_id: str
    patient_id: str
    study_id: str
    region: str
    label: int
    grouping: str
    view: str = ""
    source_split: str = ""
    covariates: dict[str, str] = field(default_factory=dict)


def image_row(folder: DataFolder, relative: str, image: FoundImage, source: str) -> dict:
    """One manifest row for the image at `relative` in `folder`; an image that is not read gets a marker hash.

    Every source builds its rows here, so no source hashes (or opens) a file
    that lies outside its data folder. `covariates` (FracAtlas's `hardware`,
    a user's own columns) travel as `cov_` columns.
    """
    return {"image_id": image.image_id, "path": relative, "patient_id": image.patient_id,
            "study_id": image.study_id, "region": image.region, "label": image.label, "view": image.view,
            "source": source, "source_split": image.source_split, "sha256": folder.digest(relative),
            "grouping": image.grouping, **prefixed(image.covariates)}


def rows_frame(rows: list[dict]) -> pd.DataFrame:
    """The manifest of `rows`: the contract's columns first, then the covariates (empty where a row lacks one)."""
    frame = pd.DataFrame(rows, columns=list(dict.fromkeys(COLUMNS + [key for row in rows for key in row])))
    extra = [column for column in frame.columns if column not in COLUMNS]
    frame[extra] = frame[extra].fillna("")
    return frame
