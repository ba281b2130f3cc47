import numpy as np
import pytest

from fracture.imaging.dicom import window_to_uint8
from fracture.imaging.io import UnreadableImage, read_grayscale
from tests.conftest import edit_dicom, write_dicom

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


def test_present_but_empty_display_tags_count_as_absent(tmp_path):
    plain = read_grayscale(write_dicom(tmp_path / "plain.dcm", RAMP))
    for tags in ({"WindowCenter": "", "WindowWidth": ""}, {"RescaleSlope": "", "RescaleIntercept": ""},
                 {"WindowCenter": "", "WindowWidth": "400"}):
        path = edit_dicom(write_dicom(tmp_path / "e.dcm", RAMP), **tags)
        np.testing.assert_array_equal(read_grayscale(path), plain)


def test_an_enormous_header_is_refused_before_any_pixel_is_decoded(tmp_path, monkeypatch):
    path = edit_dicom(write_dicom(tmp_path / "huge.dcm", RAMP), Rows=60000, Columns=60000)
    monkeypatch.setattr("pydicom.dataset.Dataset.pixel_array", property(lambda self: pytest.fail("decoded")))
    with pytest.raises(UnreadableImage) as error:
        read_grayscale(path)
    assert error.value.reason == "too_large" and "60000x60000" in error.value.detail


def _deflate_bomb(path, inflated_bytes: int):
    """A deflated DICOM of a few hundred kB whose dataset inflates to `inflated_bytes` of zeros."""
    import struct
    import zlib

    import pydicom
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    template = edit_dicom(write_dicom(path.parent / "template.dcm", RAMP, with_pixels=False),
                       TransferSyntaxUID=DeflatedExplicitVRLittleEndian, Rows=8192, Columns=8192)
    meta_end = 132 + 12 + pydicom.dcmread(template).file_meta.FileMetaInformationGroupLength
    header = template.read_bytes()[:meta_end]
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = [deflater.compress(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, inflated_bytes))]
    zeros = bytes(1 << 24)
    for _ in range(inflated_bytes // len(zeros)):
        body.append(deflater.compress(zeros))
    path.write_bytes(header + b"".join(body) + deflater.flush())
    return path


def test_a_deflated_bomb_is_measured_in_a_stream_and_refused(tmp_path):
    import resource

    path = _deflate_bomb(tmp_path / "bomb.dcm", 1 << 29)  # 512 MiB of zeros
    assert path.stat().st_size < 1 << 20
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(UnreadableImage) as error:
        read_grayscale(path)
    assert error.value.reason == "too_large" and "deflated" in error.value.detail
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000, "under 100 MB more (kB here)"


def test_a_codec_without_a_decoder_names_the_codec_and_the_package(tmp_path):
    from pydicom.encaps import encapsulate
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEGLSLossless

    if get_decoder(JPEGLSLossless).is_available:
        pytest.skip("a JPEG-LS decoder is installed here")
    path = edit_dicom(write_dicom(tmp_path / "jls.dcm", RAMP), TransferSyntaxUID=JPEGLSLossless,
                   PixelData=encapsulate([b"\xff\xd8 not decoded \xff\xd9"]))
    with pytest.raises(UnreadableImage) as error:
        read_grayscale(path)
    assert error.value.reason == "no_decoder"
    assert "JPEG-LS" in error.value.detail and "pylibjpeg-libjpeg" in error.value.detail
