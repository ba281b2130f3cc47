"""Enhancement filters (CLAHE, bilateral, median) and resizing.

Filters run after resizing so that their pixel parameters (kernel sizes,
CLAHE tiles) mean the same on every image whatever its original resolution.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

FILTER_NAMES = ("none", "clahe", "bilateral", "median")


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


def apply_chain(image: np.ndarray, steps: list[FilterStep]) -> list[np.ndarray]:
    """The image after each step of the chain, in order."""
    outputs = []
    for step in steps:
        image = step.apply(image)
        outputs.append(image)
    return outputs


def preprocess(image: np.ndarray, size: int, steps: list[FilterStep]) -> np.ndarray:
    """What the model sees: the image letterboxed, then through the filter chain."""
    resized = letterbox(image, size)
    outputs = apply_chain(resized, steps)
    return outputs[-1] if outputs else resized


def letterbox(image: np.ndarray, size: int) -> np.ndarray:
    """Resize to fit a size x size square without distorting anatomy, padding with black."""
    height, width = image.shape
    scale = size / max(height, width)
    new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    canvas = np.zeros((size, size), dtype=np.uint8)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    canvas[top:top + new_h, left:left + new_w] = resized
    return canvas
