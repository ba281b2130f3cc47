"""DICOM radiographs to 8-bit grey, as a viewer would display them.

The stored values go through the modality LUT (or rescale slope/intercept),
then the VOI LUT or the first window (DICOM's linear window function), which
also sets the mapping to 0..255; without either, the image's own range is
used. A display tag that is present but empty or not a number counts as
absent. MONOCHROME1 images (white = low values) are inverted so that bone is
always bright.

Nothing is decoded before the header says the image is a sensible size: the
same pixel limit as for a PNG (`pixels.MAX_PIXELS`), and, for
a deflated file, the inflated size counted in a stream before pydicom
inflates it whole. A compressed image whose codec has no installed decoder
is rejected with a reason that names the codec and the package to install.
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_file_meta_info
from pydicom.pixels import apply_modality_lut, apply_voi, get_decoder
from pydicom.uid import DeflatedExplicitVRLittleEndian

from fracture.imaging.pixels import MAX_PIXELS, UnreadableImage, scale_to_uint8

DISPLAY_NUMBERS = ("WindowCenter", "WindowWidth", "RescaleSlope", "RescaleIntercept")
DISPLAY_SEQUENCES = ("VOILUTSequence", "ModalityLUTSequence")
# An inflated dataset holds at most the pixel limit at 4 bytes a sample, and its header.
MAX_INFLATED_BYTES = MAX_PIXELS * 4 + (64 << 20)


def _first(value) -> float | None:
    """The first of a possibly multi-valued number (the default view), or None if empty or not a number."""
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        value = value[0] if len(value) else None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _drop_unusable_display_tags(dataset: pydicom.Dataset) -> None:
    """Present-but-empty or non-numeric window and rescale tags, and empty LUT sequences, count as absent."""
    for keyword in DISPLAY_NUMBERS:
        if keyword in dataset and _first(dataset[keyword].value) is None:
            del dataset[keyword]
    for keyword in DISPLAY_SEQUENCES:
        if keyword in dataset and not dataset[keyword].value:
            del dataset[keyword]


def _inflates_within(path: Path, limit: int) -> bool:
    """Whether a deflated dataset inflates to at most `limit` bytes, counted in a stream (nothing kept)."""
    with open(path, "rb") as handle:
        handle.seek(128 + 4)
        tag, vr, length = struct.unpack("<I2sH", handle.read(8))
        if tag != 0x00000002 or vr != b"UL" or length != 4:  # (0002,0000) group length, as PS3.10 requires
            raise UnreadableImage("not_an_image", "deflated DICOM without a file meta group length")
        handle.seek(struct.unpack("<I", handle.read(4))[0], 1)
        inflater, total = zlib.decompressobj(-zlib.MAX_WBITS), 0
        while block := handle.read(1 << 20):
            while block:
                total += len(inflater.decompress(block, 1 << 24))
                if total > limit:
                    return False
                block = inflater.unconsumed_tail
    return True


def _check_header(dataset: pydicom.Dataset) -> None:
    """The image's size from its header, and a decoder for its codec, before any pixel is decoded."""
    if "PixelData" not in dataset:
        raise UnreadableImage("no_pixel_data", "DICOM file without an image")
    size = [_first(dataset.get(keyword)) for keyword in ("Rows", "Columns")]
    if None in size:
        raise UnreadableImage("truncated_or_corrupt", "DICOM header without Rows and Columns")
    frames, samples = (_first(dataset.get(keyword)) or 1 for keyword in ("NumberOfFrames", "SamplesPerPixel"))
    pixels = size[0] * size[1] * frames * samples
    if pixels > MAX_PIXELS:
        raise UnreadableImage("too_large", f"{int(size[1])}x{int(size[0])} x {int(frames)} frames "
                                           f"({pixels:.0f} pixels, over the limit of {MAX_PIXELS})")
    syntax = dataset.file_meta.get("TransferSyntaxUID") if hasattr(dataset, "file_meta") else None
    if syntax is not None and syntax.is_compressed:
        try:
            decoder = get_decoder(syntax)
        except NotImplementedError:
            raise UnreadableImage("no_decoder", f"{syntax.name} ({syntax}): pydicom has no decoder for it") from None
        if not decoder.is_available:
            raise UnreadableImage("no_decoder", f"{syntax.name} pixel data needs a decoder; install one of: "
                                                f"{'; '.join(decoder.missing_dependencies)}")


def window_to_uint8(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.2.1 linear window onto 0..255."""
    width = max(width, 1.0)
    scaled = ((values - (center - 0.5)) / (width - 1.0) + 0.5) * 255.0 if width > 1 else \
        np.where(values > center - 0.5, 255.0, 0.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def read_dicom(path: Path) -> np.ndarray:
    try:
        syntax = read_file_meta_info(path).get("TransferSyntaxUID")
        if syntax == DeflatedExplicitVRLittleEndian and not _inflates_within(path, MAX_INFLATED_BYTES):
            raise UnreadableImage("too_large", f"deflated DICOM inflating to over {MAX_INFLATED_BYTES} bytes")
        dataset = pydicom.dcmread(path, defer_size="1 MB")  # the pixel data is read only when decoded
    except (InvalidDicomError, EOFError, ValueError, OSError, struct.error, zlib.error) as error:
        raise UnreadableImage("not_an_image", f"not a readable DICOM file ({type(error).__name__})") from None
    _check_header(dataset)
    _drop_unusable_display_tags(dataset)
    try:
        pixels = dataset.pixel_array
    except Exception as error:  # pydicom raises many types for damaged data
        raise UnreadableImage("truncated_or_corrupt", f"DICOM pixel data unreadable ({error})") from None
    if _first(dataset.get("SamplesPerPixel")) == 3:
        pixels = pixels[0] if pixels.ndim == 4 else pixels
        pixels = pixels.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    elif pixels.ndim == 3:
        pixels = pixels[0]  # multi-frame: the first frame
    try:
        image = _displayed(pixels, dataset)
    except (ValueError, TypeError, IndexError, KeyError, AttributeError):  # a damaged LUT: as if it were absent
        image = scale_to_uint8(pixels.astype(np.float64))
    if dataset.get("PhotometricInterpretation") == "MONOCHROME1":
        image = 255 - image
    return image


def _displayed(pixels: np.ndarray, dataset: pydicom.Dataset) -> np.ndarray:
    """Modality LUT or rescale, then VOI LUT or window, or else the image's own range."""
    values = apply_modality_lut(pixels, dataset).astype(np.float64)
    if "VOILUTSequence" in dataset:
        return scale_to_uint8(apply_voi(values, dataset).astype(np.float64))
    if "WindowCenter" in dataset and "WindowWidth" in dataset:
        return window_to_uint8(values, _first(dataset.WindowCenter), _first(dataset.WindowWidth))
    return scale_to_uint8(values)
