"""Data sources: each writes images under a folder and returns their manifest."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import UserError
from ..params import Section, seed
from .archives import copy_tree, extract_zip
from .mura import parse_mura
from .synthetic import SyntheticConfig, generate

SOURCES = ("synthetic", "mura")


@dataclass(frozen=True)
class DataConfig:
    source: str
    path: str
    synthetic: SyntheticConfig
    max_unpacked_bytes: int
    workers: int


def data_config(params: dict) -> DataConfig:
    """The `data` section, checked."""
    data = Section(params, "data")
    source = data.choice("source", SOURCES)
    path = data.text("path")
    if source != "synthetic" and not path:
        raise data.fail("path", f"data.source {source} needs data.path: the archive or folder you downloaded")
    synthetic = data.section("synthetic")
    config = SyntheticConfig(
        patients=synthetic.integer("patients", minimum=2),
        image_size=synthetic.integer("image_size", minimum=64, maximum=2048),
        abnormal_fraction=synthetic.number("abnormal_fraction", minimum=0.0, maximum=1.0),
        valid_fraction=synthetic.number("valid_fraction", minimum=0.0, maximum=0.9),
        seed=seed(params),
    )
    max_gb = data.number("max_unpacked_gb", minimum=0.001)
    workers = data.integer("workers", minimum=0)
    return DataConfig(source, path, config, int(max_gb * 2**30), workers or os.cpu_count() or 1)


def acquire(config: DataConfig, target: Path) -> pd.DataFrame:
    """Put the source's images under `target` and return their manifest."""
    if config.source == "synthetic":
        generate(config.synthetic, target, workers=config.workers)
    else:
        _unpack_local(Path(config.path), target, config.max_unpacked_bytes)
    return parse_mura(target, source=config.source)


def _unpack_local(path: Path, target: Path, max_bytes: int) -> None:
    if not path.exists():
        raise UserError(f"data.path {path} does not exist; point it at the archive or the unpacked folder")
    if path.is_dir():
        copy_tree(path, target)
    else:
        extract_zip(path, target, max_bytes)
