"""Reading any supported image file (PNG, JPEG, TIFF, DICOM) as an 8-bit grayscale array.

Everything downstream works on one representation, so 16-bit, RGB, RGBA and
palette images are converted here rather than rejected; a file that cannot be
decoded raises UnreadableImage with a short reason code for the filter report.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..datafolder import is_dicom
from .pixels import UnreadableImage, scale_to_uint8


def read_grayscale(path: Path | str) -> np.ndarray:
    """The image at `path` as a 2-D uint8 array."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise UnreadableImage("empty_file")
        if is_dicom(path):
            from .dicom import read_dicom  # pydicom is loaded only when a DICOM file is met

            return read_dicom(path)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                return to_uint8_gray(image)
    except UnidentifiedImageError:
        raise UnreadableImage("not_an_image", path.name) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UnreadableImage("too_large", path.name) from None
    except FileNotFoundError:
        raise UnreadableImage("missing_file", str(path)) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise UnreadableImage("truncated_or_corrupt", str(error)) from None


def to_uint8_gray(image: Image.Image) -> np.ndarray:
    """Convert any PIL mode to 8-bit grayscale; deeper images are scaled by their own range."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        return scale_to_uint8(np.asarray(image, dtype=np.float64))
    if image.mode != "L":
        image = image.convert("L")
    return np.asarray(image, dtype=np.uint8).copy()

