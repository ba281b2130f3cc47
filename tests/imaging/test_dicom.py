import numpy as np
import pytest

from fracture.imaging.dicom import window_to_uint8
from fracture.imaging.io import UnreadableImage, read_grayscale
from tests.conftest import write_dicom

RAMP = np.array([[0, 1000], [2000, 4000]], dtype=np.uint16)


def test_without_window_the_image_range_maps_to_8_bit(tmp_path):
    image = read_grayscale(write_dicom(tmp_path / "a.dcm", RAMP))
    np.testing.assert_array_equal(image, [[0, 64], [128, 255]])


def test_monochrome1_is_inverted_so_bone_stays_bright(tmp_path):
    image = read_grayscale(write_dicom(tmp_path / "m1.dcm", RAMP, photometric="MONOCHROME1"))
    np.testing.assert_array_equal(image, [[255, 191], [127, 0]])


def test_window_applies_after_the_modality_rescale(tmp_path):
    # stored 0..4000 -> rescaled 2 * x - 1000 -> -1000, 1000, 3000, 7000; window 1000 +- 1000
    path = write_dicom(tmp_path / "w.dcm", RAMP, rescale=(2.0, -1000.0), window=(1000.0, 2001.0))
    image = read_grayscale(path)
    np.testing.assert_array_equal(image, [[0, 128], [255, 255]])


def test_linear_window_function_matches_the_standard():
    # c = 150, w = 101: x <= 99.5 -> 0; x > 199.5 -> 255; else ((x - 149.5) / 100 + 0.5) * 255
    values = np.array([99.0, 100.0, 149.5, 199.0, 200.0])
    # 100 -> 0.005 * 255 = 1.3; 149.5 -> 127.5 (rounds to even, 128); 199 -> 0.995 * 255 = 253.7
    np.testing.assert_array_equal(window_to_uint8(values, center=150.0, width=101.0), [0, 1, 128, 254, 255])


def test_a_file_without_pixels_or_not_dicom_gets_a_reason(tmp_path):
    with pytest.raises(UnreadableImage) as error:
        read_grayscale(write_dicom(tmp_path / "empty.dcm", RAMP, with_pixels=False))
    assert error.value.reason == "no_pixel_data"
    fake = tmp_path / "fake.dcm"
    fake.write_bytes(b"\0" * 300)
    with pytest.raises(UnreadableImage) as error:
        read_grayscale(fake)
    assert error.value.reason == "not_an_image"


def test_dicom_is_recognised_by_content_without_extension(tmp_path):
    path = write_dicom(tmp_path / "IMG0001", RAMP)
    assert read_grayscale(path).max() == 255
