"""What a manifest's `patient_id` really is, and so what a result may claim.

Sources differ: MURA and GRAZPEDWRI-DX give patient ids, FracAtlas has none
and gets heuristic pseudo-patients, a user's labels.csv may give patients,
groups or nothing. Each parser says which, per image, in the manifest's
`grouping` column; the split report, the leakage proof and every interval
then name the unit they rest on instead of calling everything "patients".
"""

from __future__ import annotations

import pandas as pd

GROUPING_COLUMN = "grouping"
PATIENT, PSEUDO_PATIENT, USER_GROUP, IMAGE = "patient", "pseudo_patient", "group", "image"
KINDS = (PATIENT, PSEUDO_PATIENT, USER_GROUP, IMAGE)
HEURISTICS = {
    "fracatlas": "consecutive image numbers with overlapping region flags, joined over exact duplicates",
    "folder": "the pseudo_group column of labels.csv",
}
UNITS = {PATIENT: "patients", PSEUDO_PATIENT: "pseudo-patient groups", USER_GROUP: "groups", IMAGE: "images"}


def _describe(kind: str, source: str) -> str:
    if kind == PSEUDO_PATIENT:
        return f"pseudo-patient groups (heuristic: {HEURISTICS.get(source, 'made by the source')})"
    if kind == USER_GROUP:
        return "groups from the data's group column (not known to be patients)"
    if kind == IMAGE:
        return "images: no grouping, so leakage between one patient's films cannot be ruled out"
    return "patients"


def has_studies(manifest: pd.DataFrame) -> bool:
    """Whether the source has studies of several images; otherwise a 'study' would be an image."""
    return bool(len(manifest)) and bool((manifest.groupby("study_id").size() > 1).any())


def grouping_summary(manifest: pd.DataFrame) -> dict:
    """The grouping kinds with their image counts, the unit in words, and whether studies exist."""
    counts = manifest[GROUPING_COLUMN].value_counts()
    unknown = sorted(set(counts.index) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown grouping kinds {unknown}; expected {KINDS}")
    kinds = [kind for kind in KINDS if kind in counts.index]
    sources = manifest["source"].iloc[0] if len(manifest) else ""
    descriptions = [_describe(kind, sources) for kind in kinds]
    if len(kinds) == 1:
        description, unit = descriptions[0], UNITS[kinds[0]]
    else:
        description = "; ".join(f"{text} ({int(counts[kind])} images)" for kind, text in zip(kinds, descriptions))
        unit = "groups (" + ", ".join(UNITS[kind] for kind in kinds) + ")"
    return {"kinds": {kind: int(counts[kind]) for kind in kinds}, "unit": unit, "description": description,
            "has_studies": has_studies(manifest)}
