"""The one way a source describes an image it found: a manifest row."""

from __future__ import annotations

from ..datafolder import DataFolder


def image_row(folder: DataFolder, relative: str, *, image_id: str, patient_id: str, study_id: str, region: str,
              label: int, source: str, grouping: str, view: str = "", source_split: str = "") -> dict:
    """One manifest row for the image at `relative` in `folder`; an image that is not read gets a marker hash.

    Every source builds its rows here, so no source hashes (or opens) a file
    that lies outside its data folder.
    """
    return {"image_id": image_id, "path": relative, "patient_id": patient_id, "study_id": study_id,
            "region": region, "label": label, "view": view, "source": source, "source_split": source_split,
            "sha256": folder.digest(relative), "grouping": grouping}
