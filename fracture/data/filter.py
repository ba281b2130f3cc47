"""The filter stage: keep the requested regions, reject unusable images, drop duplicates.

Nothing is deleted: every image left out gets a reason, counted in the report
and listed in `rejected.csv` with a detail (which codec is missing, how small
the image is), so a user can see what the pipeline did not use and why. Each
usable image's shape is kept as covariates (aspect ratio, source size), since
image geometry alone can tell the classes apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath

import pandas as pd

from fracture.core.errors import ParamError
from fracture.core.parallel import ordered_map
from fracture.core.params import Section
from fracture.data.covariates import PREFIX, geometry
from fracture.data.folder import unread_reason
from fracture.data.manifest import label_counts
from fracture.imaging.io import UnreadableImage, read_grayscale
from fracture.imaging.screening import MIN_SIZE, MIN_STD, QualityRules

REASONS = ("outside_data_folder", "missing_file", "empty_file", "not_an_image", "truncated_or_corrupt", "no_pixel_data",
           "no_decoder", "too_large", "too_small", "blank", "duplicate", "duplicate_conflicting_labels")


@dataclass(frozen=True)
class FilterConfig:
    regions: list[str]
    rules: QualityRules


def filter_config(params: dict) -> FilterConfig:
    section = Section(params, "filter")
    regions = section.values.get("regions")
    if isinstance(regions, str):
        regions = [regions]
    if not isinstance(regions, list) or not regions or not all(isinstance(r, str) for r in regions):
        raise section.fail("regions", "expected a list of body regions, e.g. [wrist] or [all]")
    return FilterConfig([region.lower() for region in regions], quality_rules(params))



def quality_rules(params: dict) -> QualityRules:
    """The filter stage's rules, which the checkpoint keeps so predict refuses what the pipeline never saw."""
    section = Section(params, "filter")
    return QualityRules(MIN_SIZE.read(section, "min_size"), MIN_STD.read(section, "min_std"))

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


def screen_image(image_root: Path, item: tuple[str, str], rules: QualityRules) -> tuple[str, str, dict]:
    """(reason, detail, geometry) of the image at `item` = (path, sha256): reason '' where it is usable, and
    then its shape as covariates.

    A row whose file was never read (outside the data folder, missing) is
    rejected from its manifest entry alone, so it is never opened here.
    """
    path, sha256 = item
    reason = unread_reason(path, sha256)
    if reason:
        return reason, path, {}
    try:
        image = read_grayscale(image_root / path)
        rules.check(image)
    except UnreadableImage as error:
        return error.reason, error.detail, {}
    return "", "", geometry(*image.shape[:2])


def _content(item: tuple[str, str]) -> tuple[str, str]:
    """What decides a row's screening: its bytes (sha256) and its suffix (which picks the reader); a row that is
    never read is its own."""
    path, sha256 = item
    return item if unread_reason(path, sha256) else (sha256, PurePosixPath(path).suffix.lower())


def screen(manifest: pd.DataFrame, image_root: Path, config: FilterConfig, workers: int = 1) -> pd.DataFrame:
    """`reason` ('' where the image is usable), `detail` and the geometry covariates per row, the images decoded
    on `workers` processes.

    Each distinct file is decoded once and its copies take its result (they
    are then dropped as duplicates), so a labels.csv that names one file many
    times costs one decode, not one per row.
    """
    items = list(zip(manifest["path"], manifest["sha256"]))
    firsts = {}
    for item in items:
        firsts.setdefault(_content(item), item)
    screened = dict(zip(firsts, ordered_map(partial(screen_image, image_root, rules=config.rules),
                                            list(firsts.values()), workers, "screening images")))
    found = [screened[_content(item)] for item in items]
    problems = pd.DataFrame([(reason, detail) for reason, detail, _ in found], index=manifest.index,
                            columns=["reason", "detail"], dtype=str)
    shapes = pd.DataFrame([shape for _, _, shape in found], index=manifest.index, dtype=str).fillna("")
    return problems.join(shapes)


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
    """Return (kept rows, rejected rows with `reason` and `detail` columns, report dict)."""
    in_regions = select_regions(manifest, config.regions)
    problems = screen(in_regions, image_root, config, workers)
    reasons = problems["reason"]
    in_regions = in_regions.assign(**{column: problems[column] for column in problems.columns
                                      if column.startswith(PREFIX)})
    readable = in_regions[reasons == ""]
    reasons.loc[readable.index] = duplicate_reasons(readable)
    kept = in_regions[reasons == ""].sort_values("image_id").reset_index(drop=True)
    rejected = in_regions[reasons != ""].assign(reason=reasons[reasons != ""],
                                                detail=problems["detail"][reasons != ""]).sort_values("image_id")
    report = {
        "regions": config.regions,
        "images_in": int(len(manifest)),
        "images_in_regions": int(len(in_regions)),
        "images_kept": int(len(kept)),
        "rejected": {reason: int((reasons == reason).sum()) for reason in REASONS},
        "kept": label_counts(kept),
    }
    return kept, rejected, report
