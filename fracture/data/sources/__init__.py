"""Data sources: each puts its files under a folder and returns their manifest.

A source's files come from `data.path` (an archive, a folder, or a file), or
from `data.url` (one URL or a list, fetched into `data.cache_dir` with resume
and checksum), or from the source's public URL where it has one. Zip archives,
given directly or found inside a given folder, are unpacked safely; other
files are copied, so the pipeline (and DVC) owns its own copy. Links are
resolved as `datafolder` says: followed inside the folder (or archive), never
outside it, so nothing from outside reaches `data/raw` or the DVC cache.
"""

from __future__ import annotations

import logging
import os
import posixpath
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from fracture.core.errors import ParamError, UserError
from fracture.core.parallel import worker_count
from fracture.core.params import Section, seed
from fracture.data.annotations import read_coco
from fracture.data.folder import DataFolder, Entry, open_inside, walk
from fracture.data.sources.archives import unpack_zip
from fracture.data.sources.download import Retry, fetch, parse_checksum
from fracture.data.sources.folder import folder_annotations, parse_folder
from fracture.data.sources.fracatlas import CHECKSUM as FRACATLAS_CHECKSUM
from fracture.data.sources.fracatlas import URL as FRACATLAS_URL
from fracture.data.sources.fracatlas import fracatlas_annotations, parse_fracatlas
from fracture.data.sources.grazpedwri import parse_grazpedwri
from fracture.data.sources.mura import parse_mura
from fracture.data.sources.synthetic import SyntheticConfig, generate, synthetic_annotations

log = logging.getLogger(__name__)
PARSERS: dict[str, Callable[..., pd.DataFrame]] = {
    "synthetic": parse_mura, "mura": parse_mura, "fracatlas": parse_fracatlas,
    "grazpedwri": parse_grazpedwri, "folder": parse_folder,
}
SOURCES = tuple(PARSERS)
# Sources whose data can bring the annotators' fracture boxes and outlines: each finds its COCO file and maps the
# file's `file_name`s to the manifest's image ids.
ANNOTATION_FILES: dict[str, Callable[..., tuple[str, dict[str, str]] | None]] = {
    "folder": folder_annotations, "fracatlas": fracatlas_annotations, "synthetic": synthetic_annotations}
PUBLIC_URLS = {"fracatlas": [FRACATLAS_URL]}
PUBLIC_CHECKSUMS = {FRACATLAS_URL: FRACATLAS_CHECKSUM}  # the publishers' checksums by URL, where they give one
SOURCE_FOLDER = "source"
COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class DataConfig:
    """Where a source's files come from; the defaults fit a local folder or archive (an outside set's)."""

    source: str
    path: str
    urls: list[str] = field(default_factory=list)
    checksums: list[str] = field(default_factory=list)
    cache_dir: Path = Path("data/downloads")
    synthetic: SyntheticConfig | None = None
    max_unpacked_bytes: int = 50 * 2**30
    workers: int = 1
    retries: int = 5


def _text_list(section: Section, key: str) -> list[str]:
    value = section.values.get(key)
    values = [] if value in (None, "") else [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(item, str) and item for item in values):
        raise section.fail(key, "expected a string or a list of strings")
    return values


def data_config(params: dict) -> DataConfig:
    """The `data` section, checked."""
    data = Section(params, "data")
    source = data.choice("source", SOURCES)
    path = data.text("path")
    urls = _text_list(data, "url")
    checksums = _text_list(data, "checksum")
    if source not in ("synthetic",) and not path and not urls and source not in PUBLIC_URLS:
        raise data.fail("path", f"data.source {source} needs data.path (the archive or folder you downloaded) "
                                f"or data.url")
    if path and not Path(path).exists():
        raise data.fail("path", "no such file or folder; point it at the archive or the unpacked folder")
    urls = [] if path else urls or PUBLIC_URLS.get(source, [])
    if checksums and len(checksums) != len(urls):
        raise data.fail("checksum", f"give one checksum per URL ({len(urls)}), or none")
    for checksum in checksums:
        parse_checksum(checksum)
    synthetic = data.section("synthetic")
    config = SyntheticConfig(
        patients=synthetic.integer("patients", minimum=2),
        image_size=synthetic.integer("image_size", minimum=64, maximum=2048),
        abnormal_fraction=synthetic.number("abnormal_fraction", minimum=0.0, maximum=1.0),
        valid_fraction=synthetic.number("valid_fraction", minimum=0.0, maximum=0.9),
        seed=seed(params),
    )
    max_gb = data.number("max_unpacked_gb", minimum=0.001)
    cache_dir = Path(data.text("cache_dir") or "data/downloads")
    checksums = checksums or [PUBLIC_CHECKSUMS.get(url, "") for url in urls]  # data.checksum overrides a pinned one
    return DataConfig(source, path, urls, checksums, cache_dir, config, int(max_gb * 2**30),
                      worker_count(params), data.integer("retries", minimum=1, maximum=20))


def acquire(config: DataConfig, target: Path) -> tuple[pd.DataFrame, dict]:
    """Put the source's files under `target/source`; return their manifest (paths relative to `target`) and their
    fracture annotations: boxes and outlines per image id in the image's pixels, with the count left out."""
    folder = DataFolder(target / SOURCE_FOLDER)
    folder.root.mkdir(parents=True)
    if config.source == "synthetic":
        generate(config.synthetic, folder.root, workers=config.workers)
    else:
        inputs = [Path(config.path)] if config.path else [
            fetch(url, config.cache_dir, checksum, Retry(attempts=config.retries))
            for url, checksum in zip(config.urls, config.checksums)]
        folder.origins[""] = ", ".join(map(str, inputs))
        for item in inputs:
            materialize(item, folder, config.max_unpacked_bytes)
    if folder.outside:
        log.warning(f"{len(folder.outside)} links point outside the data folder and were not read: "
                    f"{', '.join(folder.shown(name) for name in sorted(folder.outside)[:5])}"
                    f"{' ...' if len(folder.outside) > 5 else ''}")
    manifest = PARSERS[config.source](folder, source=config.source)
    locate = ANNOTATION_FILES.get(config.source)
    located = locate(folder, manifest) if locate else None
    images, left_out, file = {}, {}, ""
    if located:
        relative, image_ids = located
        file = folder.shown(relative)
        images, left_out = read_coco(folder.root / relative, file, image_ids)
        dropped = ", ".join(f"{reason} {count}" for reason, count in left_out.items() if count) or "none"
        log.info(f"annotations: {sum(map(len, images.values()))} fracture boxes on {len(images)} images from "
                 f"{file}; left out: {dropped}")
    annotations = {"file": file, "images": images, "left_out": left_out}
    return manifest.assign(path=[posixpath.join(SOURCE_FOLDER, path) for path in manifest["path"]]), annotations


def materialize(item: Path, folder: DataFolder, max_bytes: int) -> None:
    """Unpack a zip, or copy a file, or a folder's files (unpacking the zips in it) into `folder`."""
    if item.is_file():
        if item.suffix.lower() == ".zip" or zipfile.is_zipfile(item):  # a damaged .zip is an error, not a copy
            unpack_zip(item, folder, max_bytes)
        else:
            shutil.copy2(item, folder.root / item.name)
            folder.origins[item.name] = str(item)
        return
    if not item.is_dir():
        raise ParamError("data.path", str(item), "no such file or folder")
    real_root = item.resolve()
    for entry in walk(item):
        folder.origins[entry.relative] = str(entry.path)
        if entry.outside or not _stage(entry, item, real_root, folder, max_bytes):
            folder.outside.add(entry.relative)


def _stage(entry: Entry, item: Path, real_root: Path, folder: DataFolder, max_bytes: int) -> bool:
    """Unpack or copy one file of the user's folder `item` (resolved: `real_root`) from what was opened, checked
    to lie inside it (see `open_inside`); False when it does not: the folder changed since it was listed."""
    try:
        source = open_inside(entry.path, real_root)
    except OSError as error:
        raise UserError(f"cannot copy {entry.path} ({error.strerror}); make it readable or move it out of "
                        f"{item}") from None
    if source is None:
        log.warning(f"{entry.path} led outside {item} when it was opened (a folder changed into a link while "
                    f"it was copied); it was not read")
        return False
    with source:
        if entry.path.suffix.lower() == ".zip":  # by name only: no other file of a large folder is opened twice
            unpack_zip(entry.path, folder, max_bytes, source)
            return True
        destination = folder.root / entry.relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        with open(destination, "wb") as sink:  # as shutil.copy2: the bytes, then the mode and times
            shutil.copyfileobj(source, sink, COPY_CHUNK)
        status = os.fstat(source.fileno())
    os.chmod(destination, stat.S_IMODE(status.st_mode))
    os.utime(destination, ns=(status.st_atime_ns, status.st_mtime_ns))
    return True
