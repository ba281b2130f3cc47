"""Unpacking archives without trusting them.

An entry that would land outside the target (absolute path, `..`, a drive
letter), a link, or an archive that unpacks to more than a limit is refused
before anything is written.
"""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path, PurePosixPath

from ..errors import UserError


def _unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or (parts and parts[0].endswith(":")):
        return "an absolute path"
    if ".." in parts:
        return "a '..' component"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "a symbolic link"
    return None


def extract_zip(archive: Path, target: Path, max_bytes: int) -> None:
    """Unpack `archive` into `target` after checking every entry and the total size."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            entries = bundle.infolist()
            for info in entries:
                reason = _unsafe_reason(info)
                if reason:
                    raise UserError(f"{archive}: refusing entry {info.filename!r} with {reason}; the archive is unsafe")
            total = sum(info.file_size for info in entries)
            if total > max_bytes:
                raise UserError(f"{archive} unpacks to {total} bytes, over the limit of {max_bytes}; "
                                f"raise data.max_unpacked_gb if the archive is trusted")
            written = 0
            for info in entries:
                destination = target / PurePosixPath(info.filename.replace("\\", "/"))
                if info.is_dir():
                    destination.mkdir(parents=True, exist_ok=True)
                    continue
                destination.parent.mkdir(parents=True, exist_ok=True)
                with bundle.open(info) as source, open(destination, "wb") as sink:
                    written += _copy_limited(source, sink, max_bytes - written, archive)
    except zipfile.BadZipFile as error:
        raise UserError(f"{archive} is not a readable zip archive ({error}); download it again") from None


def _copy_limited(source, sink, budget: int, archive: Path) -> int:
    """Copy, stopping when an entry is larger than its header promised."""
    copied = 0
    while block := source.read(1 << 20):
        copied += len(block)
        if copied > budget:
            raise UserError(f"{archive} unpacks to more than its declared size; the archive is unsafe")
        sink.write(block)
    return copied
