import numpy as np
import pytest
from PIL import Image

from fracture.imaging.io import UnreadableImage, read_grayscale
from fracture.imaging.pixels import scale_to_uint8
from tests.conftest import radiograph_like, write_png


def test_8bit_grayscale_is_read_unchanged(tmp_path):
    image = radiograph_like(0)
    np.testing.assert_array_equal(read_grayscale(write_png(tmp_path / "a.png", image)), image)


def test_16bit_is_scaled_by_its_range_not_clipped(tmp_path):
    values = np.array([[1000, 2000], [3000, 5000]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    np.testing.assert_array_equal(read_grayscale(path), [[0, 64], [128, 255]])


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "LA"])
def test_colour_palette_and_alpha_images_are_converted(tmp_path, mode):
    grey = radiograph_like(1, size=32)
    path = tmp_path / f"{mode}.png"
    Image.fromarray(grey).convert(mode).save(path)
    result = read_grayscale(path)
    assert result.dtype == np.uint8 and result.shape == (32, 32)
    assert np.abs(result.astype(int) - grey).max() <= 3


def test_unreadable_files_get_a_reason(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    truncated = write_png(tmp_path / "cut.png", radiograph_like(2))
    truncated.write_bytes(truncated.read_bytes()[:200])
    for path, reason in [(empty, "empty_file"), (text, "not_an_image"), (truncated, "truncated_or_corrupt"),
                         (tmp_path / "missing.png", "missing_file")]:
        with pytest.raises(UnreadableImage) as error:
            read_grayscale(path)
        assert error.value.reason == reason


def test_scale_to_uint8_of_a_constant_image_is_zero():
    assert scale_to_uint8(np.full((2, 2), 7.0)).max() == 0


def test_an_image_over_the_pixel_limit_is_refused_from_its_header(png_bomb, monkeypatch):
    assert png_bomb.stat().st_size < 250_000, "a small file that decodes to 177 MB"
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded"))
    with pytest.raises(UnreadableImage) as error:
        read_grayscale(png_bomb)
    assert error.value.reason == "too_large" and "9400x9400" in error.value.detail and "50000000" in error.value.detail


def test_16bit_is_scaled_a_band_at_a_time_as_the_whole_would_be_and_without_float_copies(tmp_path, monkeypatch):
    import tracemalloc

    values = np.random.default_rng(0).integers(100, 59000, (2000, 2000), dtype=np.uint16)
    values[0, 0], values[-1, -1] = 17, 60000
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    whole = np.clip(np.rint((values.astype(np.float64) - 17) * (255.0 / (60000 - 17))), 0, 255).astype(np.uint8)
    tracemalloc.start()
    try:
        result = read_grayscale(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(result, whole)
    assert peak < values.size * 8, f"{peak} bytes: under one float64 copy of the image"
    monkeypatch.setattr("fracture.imaging.pixels.BAND_PIXELS", 7)  # bands that split the rows unevenly
    np.testing.assert_array_equal(read_grayscale(path), whole)


@pytest.mark.parametrize("suffix", [".jpg", ".tif", ".png"])
def test_an_exif_orientation_is_honoured_so_the_film_is_read_upright(tmp_path, suffix):
    upright = np.zeros((60, 40), dtype=np.uint8)
    upright[:20] = 220  # bright at the top, as seen
    stored = Image.fromarray(np.rot90(upright))  # as a phone stores a film photographed on its side
    exif = stored.getexif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to view
    stored.save(tmp_path / f"film{suffix}", exif=exif)
    result = read_grayscale(tmp_path / f"film{suffix}")
    assert result.shape == (60, 40)
    assert np.abs(result.astype(int) - upright).mean() < 3
