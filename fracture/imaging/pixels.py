"""What every image reader shares: the unreadable-image error, the size limit, and scaling deep images to 8 bits.

The limit is on purpose: a radiograph is at most a 43 x 43 cm plate at 0.1 mm
(4300 px a side, 18.5 MP), a few detectors reach 6000 px (36 MP); 50 MP leaves
room for those and refuses what no film is, such as a 170 kB PNG that decodes
to 9400 x 9400 (88 MP, 177 MB at 16 bits), before a pixel is decoded. At the
limit a 16-bit image takes 100 MB decoded and its 8-bit result 50 MB.
"""

from __future__ import annotations

import numpy as np

MAX_PIXELS = 50_000_000
# Rows are scaled in bands of about this many pixels, so a deep image never has a float copy of its whole.
BAND_PIXELS = 1 << 20


class UnreadableImage(Exception):
    """An image file that cannot be used; `reason` is a stable code for reports."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


def check_size(width: int, height: int, frames: int = 1) -> None:
    """Raise UnreadableImage(`too_large`) for an image over MAX_PIXELS, from its header's size."""
    pixels = width * height * frames
    if pixels > MAX_PIXELS:
        raise UnreadableImage("too_large", f"{width}x{height}{f' x {frames} frames' if frames > 1 else ''} "
                                           f"({pixels} pixels, over the limit of {MAX_PIXELS})")


def scale_to_uint8(values: np.ndarray) -> np.ndarray:
    """Map the array's own range linearly onto 0..255, in float64 a band of rows at a time (the same numbers as
    scaling the whole at once, without its 8-bytes-a-pixel copies)."""
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    factor = 255.0 / (high - low)
    scaled = np.empty(values.shape, dtype=np.uint8)
    rows = max(1, BAND_PIXELS // max(1, values[0].size))
    for start in range(0, len(values), rows):
        band = values[start:start + rows].astype(np.float64)
        band -= low
        band *= factor
        np.rint(band, out=band)
        scaled[start:start + rows] = np.clip(band, 0, 255, out=band)
    return scaled
