"""Writing outputs so that a failed or interrupted stage never leaves half a file."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


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
