"""Covariates: what a source knows about an image beyond the manifest's own columns.

FracAtlas's `hardware` and `multiscan`, GRAZPEDWRI-DX's age and sex, a
user's extra labels.csv columns: each travels as a manifest column named
`cov_<name>`, so every stage passes it on and none mistakes it for its own.
Image geometry (aspect ratio, source size) is a covariate of every source;
the filter stage measures it when it opens the image. A covariate with many
values is cut into a few levels (quartiles of a number, the most common
values of a text), so that each subgroup holds enough images to say something.
"""

from __future__ import annotations

import re

import pandas as pd

PREFIX = "cov_"
MAX_LEVELS = 8  # more distinct values than this: quartiles of a number, or the most common values and `other`
QUANTILES = 4
MIN_CASES = 10  # fewer fractured, or fewer normal, images than this in a subgroup: too few to say anything
ID_LIKE = 20  # a text column with more distinct values than this (a file name, a hash) names images, not groups
UNKNOWN = "unknown"


def column_of(name: str) -> str:
    """The manifest column that carries covariate `name` (lower case, word characters only)."""
    return PREFIX + re.sub(r"\W+", "_", name.strip().lower()).strip("_")


def name_of(column: str) -> str:
    return column[len(PREFIX):] if column.startswith(PREFIX) else column


def covariate_columns(frame: pd.DataFrame) -> list[str]:
    return [column for column in frame.columns if column.startswith(PREFIX)]


def prefixed(values: dict[str, str]) -> dict[str, str]:
    """A source's covariates keyed by their manifest columns, values as text."""
    return {column_of(name): "" if value is None else str(value).strip() for name, value in values.items()}


def carried_columns(table: pd.DataFrame, known: set[str]) -> list[str]:
    """The columns of a user's table worth carrying as covariates: not ones the source reads itself, and not ones
    that name images (a text column with nearly one value per row)."""
    carried = []
    for name in table.columns:
        if name in known or not str(name).strip():
            continue
        values = table[name].astype(str).str.strip()
        if _is_numeric(values) or values.nunique() <= ID_LIKE:
            carried.append(name)
    return carried


def geometry(height: int, width: int) -> dict[str, str]:
    """The source image's shape as covariates: a shortcut in data sets whose classes came from different machines."""
    return prefixed({"aspect_ratio": f"{height / width:.2f}", "source_size": f"{width}x{height}"})


def source_shape(size: str) -> tuple[int, int] | None:
    """(rows, columns) of a `source_size` covariate (`<width>x<height>`), or None where it is not one."""
    width, _, height = str(size).partition("x")
    return (int(height), int(width)) if width.isdigit() and height.isdigit() else None


def _is_numeric(values: pd.Series) -> bool:
    filled = values[values != ""]
    return not filled.empty and pd.to_numeric(filled, errors="coerce").notna().all()


def _number_text(value: float) -> str:
    return f"{value:.4g}"


def levels(values: pd.Series) -> pd.Series:
    """Each row's subgroup of one covariate: its value, or its quartile or `other` when there are too many values.

    Cut over every row given (all splits), so that the training split's
    levels and the test split's are the same.
    """
    values = values.fillna("").astype(str).str.strip()
    filled = values != ""
    if values[filled].nunique() <= MAX_LEVELS:
        return values.where(filled, UNKNOWN)
    if _is_numeric(values):
        numbers = pd.to_numeric(values[filled])
        bins = pd.qcut(numbers, QUANTILES, duplicates="drop")
        names = {interval: f"{_number_text(interval.left)} to {_number_text(interval.right)}"
                 for interval in bins.cat.categories}
        return pd.Series(UNKNOWN, index=values.index).where(~filled, bins.map(names).astype(str))
    common = values[filled].value_counts().index[:MAX_LEVELS - 1]
    return values.where(values.isin(common) | ~filled, "other").where(filled, UNKNOWN)


def subgroup_levels(manifest: pd.DataFrame, names: list[str] | None = None) -> pd.DataFrame:
    """Level of each row in each subgroup column (`view` and every covariate, or `names`), indexed like `manifest`.

    A column with one level only splits nothing and is left out.
    """
    columns = ["view"] + covariate_columns(manifest) if names is None else [
        name if name in manifest.columns else column_of(name) for name in names]
    table = pd.DataFrame({name_of(column): levels(manifest[column]) for column in columns if column in manifest})
    return table.loc[:, table.nunique() > 1]
