"""A user's data folder, read without ever leaving it.

Researchers point this tool at folders of patient data, and what it copies
lands in `data/raw`, the DVC cache and any remote pushed to. So nothing
outside the folder is ever opened, hashed or copied, links included: a file
or folder link whose target resolves outside the folder is listed, so that
its row can be rejected with a reason (`outside_data_folder`), but never
read; a link that stays inside is followed (a link back to one of its own
ancestors is not, so a loop cannot recurse). A path that is absolute or
climbs out with `..` is treated the same way.

Every source, `predict` and the archive unpacker find files and images
through this one module, so these rules hold everywhere by construction.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Iterator

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".dcm", ".dicom"}
# Files that are certainly not DICOM, so not opened to look; any other file is checked by content.
NOT_IMAGES = {".csv", ".txt", ".json", ".md", ".zip", ".xml", ".yaml", ".yml", ".html", ".pdf", ".py"}
OUTSIDE = "outside_data_folder"
MISSING = "missing_file"


@dataclass(frozen=True)
class Entry:
    """A file found under a folder: `relative` to it, read at `path`; `outside` means never opened."""

    relative: str
    path: Path
    outside: bool = False


def escapes(path: str) -> bool:
    """Whether a path written in a CSV would leave its folder: absolute, or climbing out with '..'."""
    pure = PurePosixPath(path.replace("\\", "/"))
    return pure.is_absolute() or PureWindowsPath(path).is_absolute() or ".." in pure.parts


def without_image_suffix(relative: str) -> str:
    """The path less its image extension (a DICOM named by its UID, `1.2.840.3`, keeps its last field)."""
    pure = PurePosixPath(relative.replace("\\", "/"))
    return (pure.with_suffix("") if pure.suffix.lower() in IMAGE_SUFFIXES else pure).as_posix()


def is_dicom(path: Path) -> bool:
    """By extension, or by the 'DICM' marker after the 128-byte preamble."""
    if path.suffix.lower() in (".dcm", ".dicom"):
        return True
    with open(path, "rb") as handle:
        handle.seek(128)
        return handle.read(4) == b"DICM"


def _dicom_inside(path: Path) -> bool:
    """Whether a file of another name is DICOM by content; one that cannot be opened is not an image found."""
    try:
        return is_dicom(path)
    except OSError:
        return False


def walk(root: Path) -> Iterator[Entry]:
    """Every regular file under `root` in name order, links that stay inside followed, outside ones listed."""
    real_root = root.resolve()

    def visit(folder: Path, relative: PurePosixPath, ancestors: frozenset[Path]) -> Iterator[Entry]:
        with os.scandir(folder) as listing:
            children = sorted(listing, key=lambda child: child.name)
        for child in children:
            path, name = folder / child.name, (relative / child.name).as_posix()
            try:
                real = path.resolve() if child.is_symlink() else None
            except (OSError, RuntimeError):  # a loop of links: nothing to read
                continue
            if real is not None and not real.is_relative_to(real_root):
                yield Entry(name, path, outside=True)
            elif child.is_dir():  # follows an inside link
                here = real or path.resolve()
                if here not in ancestors:
                    yield from visit(path, relative / child.name, ancestors | {here})
            elif child.is_file():  # a regular file or an inside link to one; never a FIFO or a device
                yield Entry(name, path)

    return visit(root, PurePosixPath(), frozenset({real_root}))


@dataclass
class DataFolder:
    """A folder of images and index files; `outside` and `origins` are set when it is a staged copy.

    A staged copy (`data/raw/source`) holds no links: those that pointed
    outside the user's folder were not copied, and `outside` names them, so
    their rows are still rejected for the right reason. `origins` gives each
    copied file the name the user knows it by (their folder or archive), for
    messages.
    """

    root: Path
    outside: set[str] = field(default_factory=set)
    origins: dict[str, str] = field(default_factory=dict)

    @cached_property
    def _real_root(self) -> Path:
        return self.root.resolve()

    def files(self) -> Iterator[Entry]:
        yield from walk(self.root)
        for name in sorted(self.outside):
            yield Entry(name, self.root / name, outside=True)

    def images(self) -> Iterator[Entry]:
        """Image files by suffix, and DICOM files of any other name by content; hidden files are skipped."""
        for entry in self.files():
            name = PurePosixPath(entry.relative)
            if name.name.startswith("."):
                continue
            if name.suffix.lower() in IMAGE_SUFFIXES or (
                    not entry.outside and name.suffix.lower() not in NOT_IMAGES and _dicom_inside(entry.path)):
                yield entry

    def find(self, name: str) -> list[Entry]:
        """Files called `name`, shallowest first."""
        found = [entry for entry in self.files() if PurePosixPath(entry.relative).name == name]
        return sorted(found, key=lambda entry: (entry.relative.count("/"), entry.relative))

    def problem(self, relative: str) -> str | None:
        """Why the file at `relative` cannot be read (outside the folder, missing), or None."""
        if escapes(relative) or any(relative == name or relative.startswith(name + "/") for name in self.outside):
            return OUTSIDE
        path = self.root / relative
        try:
            if not path.resolve().is_relative_to(self._real_root):
                return OUTSIDE
        except (OSError, RuntimeError):  # a loop of links
            return MISSING
        return None if path.is_file() else MISSING

    def digest(self, relative: str) -> str:
        """The file's sha256; for a file that is not read, a marker that says why (see `unread_reason`)."""
        problem = self.problem(relative)
        if problem == OUTSIDE:
            return f"outside:{relative}"
        if problem == MISSING:
            return f"missing:{relative}"
        return file_sha256(self.root / relative)

    def shown(self, relative: str = "") -> str:
        """The name the user knows a file (or, with no argument, this folder) by."""
        return self.origins.get(relative) or str(self.root / relative)


def unread_reason(path: str, sha256: str) -> str | None:
    """The reason a manifest row was never read, from its path and its sha256 marker; None if it was."""
    if escapes(path) or sha256.startswith("outside:"):
        return OUTSIDE
    return MISSING if sha256.startswith("missing:") else None


def file_sha256(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
