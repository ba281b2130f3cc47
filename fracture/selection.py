"""The filter stage: keep the requested regions, reject unusable images, drop duplicates.

Nothing is deleted: every image left out gets a reason, counted in the report
and listed in `rejected.csv`, so a user can see what the pipeline did not use.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ParamError
from .imaging.io import UnreadableImage, read_grayscale
from .manifest import escapes, label_counts
from .parallel import ordered_map
from .params import Section

REASONS = ("outside_data_folder", "missing_file", "empty_file", "not_an_image", "truncated_or_corrupt", "no_pixel_data",
           "too_large",
           "too_small", "blank", "duplicate", "duplicate_conflicting_labels")


@dataclass(frozen=True)
class FilterConfig:
    regions: list[str]
    min_size: int
    min_std: float


def filter_config(params: dict) -> FilterConfig:
    section = Section(params, "filter")
    regions = section.values.get("regions")
    if isinstance(regions, str):
        regions = [regions]
    if not isinstance(regions, list) or not regions or not all(isinstance(r, str) for r in regions):
        raise section.fail("regions", "expected a list of body regions, e.g. [wrist] or [all]")
    return FilterConfig(
        regions=[region.lower() for region in regions],
        min_size=section.integer("min_size", minimum=1),
        min_std=section.number("min_std", minimum=0.0),
    )


def select_regions(manifest: pd.DataFrame, regions: list[str]) -> pd.DataFrame:
    """Rows of the requested regions; a region absent from the data is a param error."""
    if regions == ["all"]:
        return manifest
    present = sorted(manifest["region"].unique())
    for region in regions:
        if region not in present:
            raise ParamError("filter.regions", region,
                             f"no images of that region in this data; choose from: all, {', '.join(present)}")
    return manifest[manifest["region"].isin(regions)]


def screen_image(image_root: Path, path: str, config: FilterConfig) -> str | None:
    """The reason this image is unusable, or None; a path leaving `image_root` is never opened."""
    if escapes(path):
        return "outside_data_folder"
    try:
        image = read_grayscale(image_root / path)
    except UnreadableImage as error:
        return error.reason
    if min(image.shape) < config.min_size:
        return "too_small"
    if float(np.std(image)) < config.min_std:
        return "blank"
    return None


def screen(manifest: pd.DataFrame, image_root: Path, config: FilterConfig, workers: int = 1) -> pd.Series:
    """A reason per row ('' where the image is usable), the images decoded on `workers` processes."""
    reasons = ordered_map(partial(screen_image, image_root, config=config), manifest["path"], workers,
                          "screening images")
    return pd.Series([reason or "" for reason in reasons], index=manifest.index, dtype=str)


def duplicate_reasons(manifest: pd.DataFrame) -> pd.Series:
    """Mark exact copies: all but the first by image_id, or every copy when their labels disagree."""
    reasons = pd.Series("", index=manifest.index, dtype=str)
    ordered = manifest.sort_values("image_id")
    for _, copies in ordered.groupby("sha256", sort=False):
        if len(copies) == 1:
            continue
        if copies["label"].nunique() > 1:
            reasons[copies.index] = "duplicate_conflicting_labels"
        else:
            reasons[copies.index[1:]] = "duplicate"
    return reasons


def apply_filter(manifest: pd.DataFrame, image_root: Path, config: FilterConfig, workers: int = 1):
    """Return (kept rows, rejected rows with a `reason` column, report dict)."""
    in_regions = select_regions(manifest, config.regions)
    reasons = screen(in_regions, image_root, config, workers)
    readable = in_regions[reasons == ""]
    reasons.loc[readable.index] = duplicate_reasons(readable)
    kept = in_regions[reasons == ""].sort_values("image_id").reset_index(drop=True)
    rejected = in_regions[reasons != ""].assign(reason=reasons[reasons != ""]).sort_values("image_id")
    report = {
        "regions": config.regions,
        "images_in": int(len(manifest)),
        "images_in_regions": int(len(in_regions)),
        "images_kept": int(len(kept)),
        "rejected": {reason: int((reasons == reason).sum()) for reason in REASONS},
        "kept": label_counts(kept),
    }
    return kept, rejected, report
