"""Parse a folder in MURA v1.1's layout into a manifest.

`<split>/XR_<REGION>/patient<N>/study<M>_<positive|negative>/image<K>.png`:
the label comes from the study folder, patient and study from the path, the
official split (train, valid) from the top folder. MURA has no view names.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from fracture.core.errors import UserError
from fracture.data.folder import DataFolder
from fracture.data.grouping import PATIENT
from fracture.data.sources.rows import FoundImage, image_row, rows_frame

MURA_PATH = re.compile(
    r"(?:^|/)(?P<split>train|valid)/XR_(?P<region>[A-Z]+)/(?P<patient>patient\d+)/"
    r"(?P<study>study\d+)_(?P<outcome>positive|negative)/(?P<image>[^/]+)$"
)


def parse_mura(folder: DataFolder, source: str = "mura") -> pd.DataFrame:
    """Every MURA image in `folder`, paths relative to it."""
    rows = []
    for entry in folder.images():
        match = MURA_PATH.search(entry.relative)
        if match is None:
            continue
        study = f"{match['split']}/XR_{match['region']}/{match['patient']}/{match['study']}"
        found = FoundImage(
            image_id=f"{study}_{match['outcome']}/{Path(match['image']).stem}", patient_id=match["patient"],
            study_id=study, region=match["region"].lower(), label=int(match["outcome"] == "positive"),
            grouping=PATIENT, source_split=match["split"])
        rows.append(image_row(folder, entry.relative, found, source))
    if not rows:
        raise UserError(f"no MURA images in {folder.shown()}: expected "
                        f"train|valid/XR_<REGION>/patient*/study*_positive|negative/*.png")
    return rows_frame(rows)
