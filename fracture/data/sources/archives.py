"""Unpacking archives without trusting them.

An archive whose entry names would land outside the target (absolute path,
`..`, a drive letter), whose entries clash (a file and a folder of one name),
that is encrypted or compressed with a method Python cannot read, or that
unpacks to more than a limit, is refused with one line naming the archive and
the entry, before anything is written. Links inside it are resolved as in a
folder (see `datafolder`): one whose target stays inside the archive is
followed, one that points outside is listed and never read. To resolve them
with the same code as a folder's, the archive is unpacked into a scratch
folder beside the target (links as links), then its files are moved in.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from fracture.core.errors import UserError
from fracture.data.folder import DataFolder, walk

READABLE_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2",
                    zipfile.ZIP_LZMA: "lzma"}
OTHER_METHODS = {9: "Deflate64", 93: "Zstandard", 95: "xz", 96: "JPEG", 97: "WavPack", 98: "PPMd", 99: "AES"}
MAX_LINK_TEXT = 4096


def _name(info: zipfile.ZipInfo) -> str:
    """The entry's path as it will be written: '/'-separated, without '.' parts or a trailing '/'."""
    return PurePosixPath(info.filename.replace("\\", "/")).as_posix()


def _is_link(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _refusal(info: zipfile.ZipInfo) -> str | None:
    """Why one entry makes the archive unsafe or unreadable, or None."""
    name = info.filename
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or (parts and parts[0].endswith(":")):
        return "has an absolute path"
    if ".." in parts:
        return "has a '..' component"
    if "\0" in name or (not parts and not info.is_dir()):
        return "has no usable name"
    if info.flag_bits & 0x1:
        return "is encrypted; unpack it with its password and set data.path to the folder"
    if info.compress_type not in READABLE_METHODS:
        method = OTHER_METHODS.get(info.compress_type, "unknown")
        return (f"is compressed with method {info.compress_type} ({method}) that Python cannot read; re-create the "
                f"archive with deflate (e.g. `zip -r`) or unpack it yourself and set data.path to the folder")
    return None


def _check(archive: Path, entries: list[zipfile.ZipInfo], max_bytes: int) -> None:
    """Refuse the archive, naming the entry, for any unsafe, unreadable or clashing entry, or its size."""
    seen: set[str] = set()
    folders: set[str] = set()
    for info in entries:
        reason = _refusal(info)
        if reason:
            raise UserError(f"{archive}: refusing entry {info.filename!r}, which {reason}")
        name = _name(info)
        parents = PurePosixPath(name).parents
        folders.update(str(parent) for parent in list(parents)[:-1])
        if info.is_dir():
            folders.add(name)
        elif name in seen:
            raise UserError(f"{archive}: refusing entry {name!r}, which appears twice; the archive is ambiguous")
        else:
            seen.add(name)
    clashes = sorted(seen & folders)
    if clashes:
        raise UserError(f"{archive}: refusing entry {clashes[0]!r}, which is both a file (or link) and a folder; "
                        f"the archive is inconsistent")
    total = sum(info.file_size for info in entries)
    if total > max_bytes:
        raise UserError(f"{archive} unpacks to {total} bytes, over the limit of {max_bytes}; "
                        f"raise data.max_unpacked_gb if the archive is trusted")


def _unpack_raw(archive: Path, bundle: zipfile.ZipFile, scratch: Path, max_bytes: int) -> None:
    """Every entry into `scratch`: files as files, links as links (created last, so nothing is written through one)."""
    written = 0
    links = []
    for info in bundle.infolist():
        destination = scratch / _name(info)
        try:
            if info.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
            elif _is_link(info):
                links.append((info, destination))
            else:
                destination.parent.mkdir(parents=True, exist_ok=True)
                with _EntryReader(archive, bundle, info) as source, open(destination, "wb") as sink:
                    written += _copy_limited(source, sink, max_bytes - written, archive)
        except OSError as error:  # a name the file system refuses (too long, say), or a full disk
            raise UserError(f"{archive}: cannot unpack entry {info.filename!r} ({error.strerror}); unpack it "
                            f"yourself and set data.path to the folder") from None
    for info, destination in links:  # a link with no usable target text is left out: its row says missing_file
        with _EntryReader(archive, bundle, info) as source:
            text = source.read(MAX_LINK_TEXT + 1)
        if text and len(text) <= MAX_LINK_TEXT and b"\0" not in text:
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.fsdecode(text), destination)


class _EntryReader:
    """An entry opened for reading; damage found on the way is one line naming the archive and the entry."""

    ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError)

    def __init__(self, archive: Path, bundle: zipfile.ZipFile, info: zipfile.ZipInfo):
        self.archive, self.bundle, self.info = archive, bundle, info

    def _damaged(self, error: Exception) -> UserError:
        return UserError(f"{self.archive}: entry {self.info.filename!r} cannot be read ({error}); download the "
                         f"archive again")

    def __enter__(self):
        try:
            self.handle = self.bundle.open(self.info)
        except self.ERRORS as error:
            raise self._damaged(error) from None
        return self

    def read(self, size: int = -1) -> bytes:
        try:
            return self.handle.read(size)
        except self.ERRORS as error:
            raise self._damaged(error) from None

    def __exit__(self, *exc):
        self.handle.close()


def unpack_zip(archive: Path, folder: DataFolder, max_bytes: int, opened: BinaryIO | None = None) -> None:
    """Unpack `archive` (read from `opened` where it is open already) into `folder` after checking every entry and
    the total size; links resolved as in a folder."""
    try:
        with zipfile.ZipFile(opened or archive) as bundle:
            _check(archive, bundle.infolist(), max_bytes)
            folder.root.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix=".unpack.", dir=folder.root.parent))
            try:
                _unpack_raw(archive, bundle, scratch, max_bytes)
                _move_in(archive, scratch, folder, max_bytes)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
    except zipfile.BadZipFile as error:
        raise UserError(f"{archive} is not a readable zip archive ({error}); download it again") from None
    except UnicodeDecodeError:  # the UTF-8 flag is set on names that are not UTF-8
        raise UserError(f"{archive} marks its file names as UTF-8 but they are not; re-create the zip (or unpack "
                        f"it and give the folder)") from None


def _move_in(archive: Path, scratch: Path, folder: DataFolder, max_bytes: int) -> None:
    """Move the scratch folder's files into `folder`; files reached through inside links are copied from theirs."""
    real_scratch = scratch.resolve()
    entries = [(entry, entry.path.resolve()) for entry in walk(scratch)]
    entries = [(entry, real, real == real_scratch / entry.relative) for entry, real in entries]
    copied = 0
    for entry, real, direct in sorted(entries, key=lambda item: not item[2]):  # link targets are moved in first
        folder.origins[entry.relative] = f"{entry.relative} in {archive}"
        if entry.outside:
            folder.outside.add(entry.relative)
            continue
        destination = folder.root / entry.relative
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            if direct:
                os.replace(real, destination)
                continue
            target = folder.root / real.relative_to(real_scratch)
            copied += target.stat().st_size
            if copied > max_bytes:
                raise UserError(f"{archive} unpacks, through its links, to more than the limit of {max_bytes} "
                                f"bytes; the archive is unsafe")
            shutil.copy2(target, destination)
        except (IsADirectoryError, NotADirectoryError, FileExistsError) as error:
            raise UserError(f"{archive}: entry {entry.relative!r} clashes with a file of another input "
                            f"({error.strerror}); give the archives separately or unpack them yourself") from None


def _copy_limited(source, sink, budget: int, archive: Path) -> int:
    """Copy, stopping when an entry is larger than its header promised."""
    copied = 0
    while block := source.read(1 << 20):
        copied += len(block)
        if copied > budget:
            raise UserError(f"{archive} unpacks to more than its declared size; the archive is unsafe")
        sink.write(block)
    return copied
