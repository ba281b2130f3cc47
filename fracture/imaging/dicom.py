"""DICOM radiographs to 8-bit grey, as a viewer would display them.

The stored values go through the modality LUT (or rescale slope/intercept),
then the VOI LUT or the first window (DICOM's linear window function), which
also sets the mapping to 0..255; without either, the image's own range is
used. MONOCHROME1 images (white = low values) are inverted so that bone is
always bright.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_modality_lut, apply_voi

from .pixels import UnreadableImage, scale_to_uint8


def _first(value) -> float:
    """Window centre/width may be multi-valued: the first is the default view."""
    return float(value[0]) if isinstance(value, (list, tuple, pydicom.multival.MultiValue)) else float(value)


def window_to_uint8(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.2.1 linear window onto 0..255."""
    width = max(width, 1.0)
    scaled = ((values - (center - 0.5)) / (width - 1.0) + 0.5) * 255.0 if width > 1 else \
        np.where(values > center - 0.5, 255.0, 0.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def read_dicom(path: Path) -> np.ndarray:
    try:
        dataset = pydicom.dcmread(path)
    except (InvalidDicomError, EOFError, ValueError, OSError) as error:
        raise UnreadableImage("not_an_image", f"not a readable DICOM file ({type(error).__name__})") from None
    if "PixelData" not in dataset:
        raise UnreadableImage("no_pixel_data", "DICOM file without an image")
    try:
        pixels = dataset.pixel_array
    except Exception as error:  # pydicom raises many types for missing codecs and damaged data
        raise UnreadableImage("truncated_or_corrupt", f"DICOM pixel data unreadable ({error})") from None
    if int(getattr(dataset, "SamplesPerPixel", 1)) == 3:
        pixels = pixels[0] if pixels.ndim == 4 else pixels
        pixels = pixels.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    elif pixels.ndim == 3:
        pixels = pixels[0]  # multi-frame: the first frame
    values = apply_modality_lut(pixels, dataset).astype(np.float64)
    if "VOILUTSequence" in dataset:
        image = scale_to_uint8(apply_voi(values, dataset).astype(np.float64))
    elif "WindowCenter" in dataset and "WindowWidth" in dataset:
        image = window_to_uint8(values, _first(dataset.WindowCenter), _first(dataset.WindowWidth))
    else:
        image = scale_to_uint8(values)
    if getattr(dataset, "PhotometricInterpretation", "") == "MONOCHROME1":
        image = 255 - image
    return image
