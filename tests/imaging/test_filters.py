import numpy as np

from fracture.imaging.filters import FilterStep, apply_chain, letterbox


def test_letterbox_keeps_aspect_and_pads_with_black():
    tall = np.full((200, 100), 255, dtype=np.uint8)
    boxed = letterbox(tall, 64)
    assert boxed.shape == (64, 64)
    assert (boxed[:, 16:48] == 255).all() and (boxed[:, :16] == 0).all() and (boxed[:, 48:] == 0).all()


def test_median_removes_salt_noise_and_bilateral_smooths():
    image = np.full((32, 32), 100, dtype=np.uint8)
    image[10, 10] = 255
    assert FilterStep("median", {"kernel": 3}).apply(image)[10, 10] == 100
    smoothed = FilterStep("bilateral", {"diameter": 5, "sigma_color": 200, "sigma_space": 5}).apply(image)
    assert smoothed[10, 10] < 255


def test_clahe_raises_local_contrast():
    rng = np.random.default_rng(0)
    flat = (120 + rng.integers(-5, 6, (64, 64))).astype(np.uint8)
    enhanced = FilterStep("clahe", {"clip_limit": 4.0, "tile_grid": 4}).apply(flat)
    assert enhanced.std() > flat.std() * 2


def test_chain_applies_steps_in_order_and_returns_each_output():
    image = np.random.default_rng(1).integers(0, 256, (32, 32), dtype=np.uint8)
    clahe = FilterStep("clahe", {"clip_limit": 2.0, "tile_grid": 4})
    median = FilterStep("median", {"kernel": 3})
    outputs = apply_chain(image, [clahe, median])
    np.testing.assert_array_equal(outputs[0], clahe.apply(image))
    np.testing.assert_array_equal(outputs[1], median.apply(clahe.apply(image)))
    assert not np.array_equal(outputs[1], clahe.apply(median.apply(image))), "order matters"
    assert apply_chain(image, []) == []
