"""What every image reader shares: the unreadable-image error and scaling deep images to 8 bits."""

from __future__ import annotations

import numpy as np


class UnreadableImage(Exception):
    """An image file that cannot be used; `reason` is a stable code for reports."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


def scale_to_uint8(values: np.ndarray) -> np.ndarray:
    """Map the array's own range linearly onto 0..255."""
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = (values.astype(np.float64) - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
