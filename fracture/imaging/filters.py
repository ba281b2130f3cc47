"""Enhancement filters (CLAHE, bilateral, median) and letterboxing.

Filters run after resizing so that their pixel parameters (kernel sizes,
CLAHE tiles) mean the same on every image whatever its original resolution.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from fracture.core.params import Bound

FILTER_NAMES = ("none", "clahe", "bilateral", "median")
# What each filter's options may be, for params.yaml's enhance section and a model file's chain alike. Past 255 px
# cv2.medianBlur refuses some kernels on small squares (over 659 on a 32 px one).
OPTION_BOUNDS = {
    "none": {},
    "clahe": {"clip_limit": Bound(0.01), "tile_grid": Bound(1, 64, integer=True)},
    "bilateral": {"diameter": Bound(1, 31, integer=True), "sigma_color": Bound(0.0), "sigma_space": Bound(0.0)},
    "median": {"kernel": Bound(3, 255, integer=True, odd=True)},
}
MAX_FILTERS = 8  # the longest chain: each step is a pass over every image, and nobody chains more


@dataclass(frozen=True)
class FilterStep:
    name: str
    options: dict = field(default_factory=dict)

    def apply(self, image: np.ndarray) -> np.ndarray:
        return APPLY[self.name](image, **self.options)


def clahe(image: np.ndarray, clip_limit: float, tile_grid: int) -> np.ndarray:
    return cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tile_grid, tile_grid)).apply(image)


def bilateral(image: np.ndarray, diameter: int, sigma_color: float, sigma_space: float) -> np.ndarray:
    return cv2.bilateralFilter(image, diameter, sigma_color, sigma_space)


def median(image: np.ndarray, kernel: int) -> np.ndarray:
    return cv2.medianBlur(image, kernel)


APPLY = {"none": lambda image: image.copy(), "clahe": clahe, "bilateral": bilateral, "median": median}


@dataclass(frozen=True)
class Box:
    """Where the image lies inside its letterboxed square (the rest is padding)."""

    top: int
    left: int
    height: int
    width: int

    def crop(self, image: np.ndarray) -> np.ndarray:
        return image[self.top:self.top + self.height, self.left:self.left + self.width]


FITS = ("letterbox", "stretch")


def content_box(shape: tuple[int, int], size: int, fit: str = "letterbox") -> Box:
    """The rectangle an image of `shape` fills in a `size` square: centred at its own aspect ratio (`letterbox`),
    or the whole square (`stretch`)."""
    if fit == "stretch":
        return Box(0, 0, size, size)
    height, width = shape
    scale = size / max(height, width)
    new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
    return Box((size - new_h) // 2, (size - new_w) // 2, new_h, new_w)


def fit_square(image: np.ndarray, size: int, fit: str = "letterbox") -> np.ndarray:
    """Resize into a size x size square: without distorting anatomy, padding with black (`letterbox`), or filling
    the square, so that no padding edge carries the film's shape (`stretch`)."""
    box = content_box(image.shape, size, fit)
    interpolation = cv2.INTER_AREA if max(image.shape) > size else cv2.INTER_LINEAR
    canvas = np.zeros((size, size), dtype=np.uint8)
    canvas[box.top:box.top + box.height, box.left:box.left + box.width] = cv2.resize(
        image, (box.width, box.height), interpolation=interpolation)
    return canvas
