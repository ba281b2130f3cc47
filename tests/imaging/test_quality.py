import math

import numpy as np
import pytest

from fracture.imaging.quality import psnr, ssim, summarize


def test_psnr_matches_the_hand_computed_value():
    reference = np.array([[10, 20], [30, 40]], dtype=np.uint8)
    image = np.array([[12, 20], [30, 36]], dtype=np.uint8)  # squared errors 4 + 16 -> MSE 5
    assert psnr(reference, image) == pytest.approx(10 * math.log10(255**2 / 5))


def test_psnr_does_not_wrap_around_on_uint8():
    """3 - 5 on uint8 is 254; the seed project's PSNR computed exactly that."""
    reference = np.full((4, 4), 3, dtype=np.uint8)
    image = np.full((4, 4), 5, dtype=np.uint8)
    assert psnr(reference, image) == pytest.approx(10 * math.log10(255**2 / 4))
    assert psnr(reference, image) == pytest.approx(psnr(image, reference))


def test_identical_images_have_infinite_psnr_and_unit_ssim():
    image = np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8)
    assert psnr(image, image) == math.inf
    assert ssim(image, image) == pytest.approx(1.0)


def test_ssim_falls_with_noise():
    rng = np.random.default_rng(0)
    image = (np.linspace(0, 255, 64)[None, :] * np.ones((64, 1))).astype(np.uint8)
    light = np.clip(image + rng.normal(0, 5, image.shape), 0, 255).astype(np.uint8)
    heavy = np.clip(image + rng.normal(0, 40, image.shape), 0, 255).astype(np.uint8)
    assert 1 > ssim(image, light) > ssim(image, heavy) > 0


def test_summary_counts_identical_pairs_apart():
    summary = summarize([30.0, 40.0, math.inf])
    assert summary == {"count": 3, "identical": 1, "mean": 35.0, "std": 5.0, "median": 35.0, "min": 30.0, "max": 40.0}
    assert summarize([math.inf]) == {"count": 1, "identical": 1}
