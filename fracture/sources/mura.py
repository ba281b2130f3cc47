"""Parse a folder in MURA v1.1's layout into a manifest.

`<split>/XR_<REGION>/patient<N>/study<M>_<positive|negative>/image<K>.png`:
the label comes from the study folder, patient and study from the path, the
official split (train, valid) from the top folder. MURA has no view names.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..errors import UserError
from ..grouping import PATIENT
from ..manifest import COLUMNS, file_sha256

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
MURA_PATH = re.compile(
    r"(?:^|/)(?P<split>train|valid)/XR_(?P<region>[A-Z]+)/(?P<patient>patient\d+)/"
    r"(?P<study>study\d+)_(?P<outcome>positive|negative)/(?P<image>[^/]+)$"
)


def parse_mura(data_root: Path, source: str = "mura") -> pd.DataFrame:
    """Every MURA image under `data_root`, paths relative to `data_root`."""
    rows = []
    for path in sorted(data_root.rglob("*")):
        if path.suffix.lower() not in IMAGE_SUFFIXES or path.name.startswith(".") or not path.is_file():
            continue
        relative = path.relative_to(data_root).as_posix()
        match = MURA_PATH.search(relative)
        if match is None:
            continue
        region = match["region"].lower()
        study = f"{match['split']}/XR_{match['region']}/{match['patient']}/{match['study']}"
        rows.append({
            "image_id": f"{study}_{match['outcome']}/{Path(match['image']).stem}",
            "path": relative,
            "patient_id": match["patient"],
            "study_id": study,
            "region": region,
            "label": int(match["outcome"] == "positive"),
            "view": "",
            "source": source,
            "source_split": match["split"],
            "sha256": file_sha256(path),
            "grouping": PATIENT,
        })
    if not rows:
        raise UserError(f"no MURA images under {data_root}: expected "
                        f"train|valid/XR_<REGION>/patient*/study*_positive|negative/*.png")
    return pd.DataFrame(rows, columns=COLUMNS)
