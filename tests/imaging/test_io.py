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
