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

import logging
import os
import re
import stat
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO, Iterator

from fracture.core.errors import UserError
from fracture.core.storage import file_sha256
from fracture.imaging.formats import is_dicom

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".dcm", ".dicom"}
# Files that are certainly not DICOM, so not opened to look; any other file is checked by content.
NOT_IMAGES = {".csv", ".txt", ".json", ".md", ".zip", ".xml", ".yaml", ".yml", ".html", ".pdf", ".py"}
OUTSIDE = "outside_data_folder"
MISSING = "missing_file"
log = logging.getLogger(__name__)


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




def _dicom_inside(path: Path) -> bool:
    """Whether a file of another name is DICOM by content; one that cannot be opened is not an image found."""
    try:
        return is_dicom(path)
    except OSError:
        return False


# Folder levels below a root that are read: MURA nests 4, DICOM trees 6 to 8; far below Python's recursion limit.
MAX_DEPTH = 64
NOT_UTF8 = re.compile("[\udc80-\udcff]")  # how Python keeps a file name's bytes that are not UTF-8


def text_name(name: str) -> str:
    """`name` as text that a UTF-8 CSV or report can hold: each byte that is not UTF-8 (a Latin-1 disk, a zip from
    another system) becomes %XX, so a name with the bytes `caf\\xe9.png` is shown as `caf%E9.png`."""
    return NOT_UTF8.sub(lambda byte: f"%{ord(byte.group()) - 0xDC00:02X}", name)


def _listing(folder: Path) -> list[os.DirEntry]:
    with os.scandir(folder) as listing:
        return sorted(listing, key=lambda child: child.name)


def walk(root: Path) -> Iterator[Entry]:
    """Every regular file under `root` in name order, links that stay inside followed, outside ones listed.

    A stack of folders, not recursion; a folder over MAX_DEPTH levels down
    is left out with a warning naming it, since what later copies, removes
    or caches a copy of the tree (shutil, DVC) recurses once a level. A
    subfolder that cannot be read is left out with a warning naming it;
    `root` itself unreadable is an error. A name that is not UTF-8 is listed
    by its `text_name` (the file is read at its own name, and a staged copy
    takes the text name), unless a file of that name is beside it.
    """
    real_root = root.resolve()
    try:
        top = _listing(root)
    except OSError as error:
        raise UserError(f"cannot read the folder {text_name(str(root))} ({error.strerror}); make it readable") from None
    stack = [(iter(top), root, PurePosixPath(), real_root)]
    entered, renamed = {real_root}, []
    while stack:
        children, folder, relative, real_folder = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            entered.discard(real_folder)
            continue
        path, shown = folder / child.name, text_name(child.name)
        if shown != child.name:
            if os.path.lexists(folder / shown):
                log.warning(f"{text_name(str(folder))}: a name that is not UTF-8 would be listed as {shown}, which is "
                            f"taken; that file is left out, rename it")
                continue
            renamed.append((relative / shown).as_posix())
        name = (relative / shown).as_posix()
        try:
            real = path.resolve() if child.is_symlink() else None
        except (OSError, RuntimeError):  # a loop of links: nothing to read
            continue
        if real is not None and not real.is_relative_to(real_root):
            yield Entry(name, path, outside=True)
        elif child.is_dir():  # follows an inside link, never back into a folder it is in
            here = real or real_folder / child.name
            if here in entered:
                continue
            if len(stack) > MAX_DEPTH:
                log.warning(f"{text_name(str(path))} lies over {MAX_DEPTH} folders deep; the files in it are left out")
                continue
            try:
                listing = _listing(path)
            except OSError as error:
                log.warning(f"{text_name(str(path))} cannot be read ({error.strerror}); the files in it are left out")
                continue
            entered.add(here)
            stack.append((iter(listing), path, relative / shown, here))
        elif child.is_file():  # a regular file or an inside link to one; never a FIFO or a device
            yield Entry(name, path)
    if renamed:
        log.warning(f"{len(renamed)} names under {text_name(str(root))} are not UTF-8 (another system's encoding); "
                    f"they are listed with each such byte as %XX, e.g. {renamed[0]}")


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


def open_inside(path: Path, real_root: Path) -> BinaryIO | None:
    """The regular file at `path`, opened for reading, or None when what was opened is not a regular file inside
    `real_root` (a resolved path).

    `walk` checks a path before anything opens it; a folder swapped for a
    link in between would let a file from outside in. So the check is made
    again on what was opened: the path, resolved now, must lie inside and be
    the very file the descriptor holds (same device and inode), which no
    later swap can change. Links that stay inside still work.
    """
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:  # O_NONBLOCK: a FIFO swapped in does not hang the open; it is refused below
        opened = os.fstat(descriptor)
        real = Path(os.path.realpath(path))
        named = os.stat(real)
        inside = (stat.S_ISREG(opened.st_mode) and real.is_relative_to(real_root)
                  and (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino))
    except OSError:  # the path changed again under us: what was opened cannot be shown to be inside
        inside = False
    if not inside:
        os.close(descriptor)
        return None
    return os.fdopen(descriptor, "rb")
