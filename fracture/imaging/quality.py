"""Image-quality scores of a filtered image against its unfiltered original.

Both are computed in float64: on uint8 arrays `a - b` wraps around (3 - 5 is
254), which is how the seed project's PSNR went wrong.
"""

from __future__ import annotations

import math

import numpy as np
from skimage.metrics import structural_similarity

DATA_RANGE = 255.0
SSIM_WINDOW = 11  # skimage's Gaussian window for sigma 1.5


def psnr(reference: np.ndarray, image: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB; infinite for identical images."""
    error = np.mean(np.square(reference.astype(np.float64) - image.astype(np.float64)))
    if error == 0:
        return math.inf
    return 10.0 * math.log10(DATA_RANGE**2 / error)


def ssim(reference: np.ndarray, image: np.ndarray) -> float:
    """Structural similarity with Wang et al.'s Gaussian window (sigma 1.5, 11 px).

    An image narrower than the window is padded with its edge values to fit it.
    """
    if min(reference.shape) < SSIM_WINDOW:
        pad = [(0, max(0, SSIM_WINDOW - length)) for length in reference.shape]
        reference, image = np.pad(reference, pad, mode="edge"), np.pad(image, pad, mode="edge")
    return float(structural_similarity(
        reference.astype(np.float64), image.astype(np.float64), data_range=DATA_RANGE,
        gaussian_weights=True, sigma=1.5, use_sample_covariance=False))


def summarize(values: list[float]) -> dict:
    """Mean, spread and range of finite scores; identical pairs (inf PSNR) are counted apart."""
    finite = np.array([value for value in values if math.isfinite(value)], dtype=np.float64)
    summary = {"count": len(values), "identical": len(values) - len(finite)}
    if len(finite):
        summary.update(mean=float(finite.mean()), std=float(finite.std()), median=float(np.median(finite)),
                       min=float(finite.min()), max=float(finite.max()))
    return summary
