import numpy as np

from fracture.imaging.filters import FilterStep, content_box, fit_square


def test_letterbox_keeps_aspect_and_pads_with_black():
    tall = np.full((200, 100), 255, dtype=np.uint8)
    boxed = fit_square(tall, 64)
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


def test_content_box_is_where_the_letterboxed_image_lies():
    tall = np.full((200, 100), 255, dtype=np.uint8)
    box = content_box(tall.shape, 64)
    assert (box.top, box.left, box.height, box.width) == (0, 16, 64, 32)
    assert (box.crop(fit_square(tall, 64)) == 255).all()
