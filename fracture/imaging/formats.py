"""Which reader a file needs, told from its name or its first bytes without decoding it."""

from __future__ import annotations

from pathlib import Path


def is_dicom(path: Path) -> bool:
    """By extension, or by the 'DICM' marker after the 128-byte preamble."""
    if path.suffix.lower() in (".dcm", ".dicom"):
        return True
    with open(path, "rb") as handle:
        handle.seek(128)
        return handle.read(4) == b"DICM"
