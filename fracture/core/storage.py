"""Writing outputs so that a failed or interrupted stage never leaves half a file, nor replaces a user's files."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from fracture.core.errors import UserError

# Beside a command's output folder's files: which command wrote them, and each file's sha256 as it left them.
OWNER_FILE = ".fracture-output.json"


@contextmanager
def atomic_path(target: Path | str, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `target`; move it into place only on success.

    The result gets ordinary permissions (mkstemp's are owner-only).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    else:
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        os.close(handle)
        temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, (0o777 if directory else 0o666) & ~_umask())
        if directory and target.is_dir():
            shutil.rmtree(target)
        os.replace(temporary, target)
    finally:
        if temporary.is_dir():
            shutil.rmtree(temporary, ignore_errors=True)
        elif temporary.exists():
            temporary.unlink()


def _umask() -> int:
    """The process umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: Path | str, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text)


def write_json(path: Path | str, data) -> None:
    """JSON with sorted keys and a trailing newline, so reruns give identical bytes."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")


def write_csv(frame, path: Path | str) -> None:
    """A table (a pandas DataFrame) as CSV, floats to six significant digits."""
    with atomic_path(path) as temporary:
        frame.to_csv(temporary, index=False, float_format="%.6g")


def read_json(path: Path | str):
    return json.loads(Path(path).read_text())


def _tree(folder: Path) -> dict[str, Path]:
    """Every entry under `folder` that is not a folder (links included, never followed), by relative POSIX path."""
    found = {}
    for parent, folders, files in os.walk(folder):
        for name in files + [name for name in folders if os.path.islink(os.path.join(parent, name))]:
            path = Path(parent, name)
            found[path.relative_to(folder).as_posix()] = path
    return found


def _foreign(target: Path, command: str) -> str | None:
    """The first entry of `target` that `command` did not write, or that changed since it did; None if none."""
    entries = _tree(target)
    owner = entries.pop(OWNER_FILE, None)
    if not entries:
        return None
    try:
        record = json.loads(owner.read_text()) if owner is not None and not owner.is_symlink() else {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        record = {}
    written = record.get("files") if isinstance(record, dict) and record.get("command") == command else None
    written = written if isinstance(written, dict) else {}
    for name, path in sorted(entries.items()):
        if path.is_symlink() or not path.is_file() or written.get(name) != file_sha256(path):
            return name
    return None


def refuse_foreign(target: Path | str, command: str) -> None:
    """One line, unless `target` is new, empty, or holds nothing but what `command` wrote there before, unchanged."""
    target = Path(target)
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise UserError(f"{command}: {target} is {'a link' if target.is_symlink() else 'a file'}; give a new or "
                        f"empty folder")
    foreign = _foreign(target, command) if target.is_dir() else None
    if foreign is not None:
        raise UserError(f"{command}: {target} holds files this command did not write (e.g. {foreign}), which "
                        f"replacing the folder would delete; give a new or empty folder")


def refuse_overwrite(target: Path | str, header: list[str], command: str) -> None:
    """One line, unless `target` is new or a CSV that `command` wrote (its first line is `header`): a user's own
    file of that name is never replaced."""
    target = Path(target)
    if not target.exists() and not target.is_symlink():
        return
    first = b""
    if target.is_file() and not target.is_symlink():
        with open(target, "rb") as handle:
            first = handle.readline(4096).rstrip(b"\r\n")
    if first != ",".join(header).encode():
        raise UserError(f"{command}: {target} exists and is not a table this command wrote (its first line is not "
                        f"{','.join(header)}), so it is not replaced; give a new file name")


@contextmanager
def command_folder(target: Path | str, command: str) -> Iterator[Path]:
    """A staging folder that becomes `target` whole on success, as `atomic_path(directory=True)` gives, but only
    where `refuse_foreign` allows: a folder of a user's own files is refused in one line, and nothing in it is
    touched. The folder records what it holds, so that the same command may replace it next time."""
    refuse_foreign(target, command)
    with atomic_path(target, directory=True) as staging:
        yield staging
        files = {name: file_sha256(path) for name, path in _tree(staging).items()}
        (staging / OWNER_FILE).write_text(json.dumps({"command": command, "files": files}, indent=2,
                                                     sort_keys=True) + "\n")


def file_sha256(path: Path | str) -> str:
    """A file's sha256, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
