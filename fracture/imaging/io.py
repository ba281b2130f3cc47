"""Reading any supported image file (PNG, JPEG, TIFF, DICOM) as an 8-bit grayscale array.

Everything downstream works on one representation, so 16-bit, RGB, RGBA and
palette images are converted here rather than rejected; a file that cannot be
decoded raises UnreadableImage with a short reason code for the filter report.
The filter, enhance, predict and validate all read through here, so the same
rules hold for each: an image over `pixels.MAX_PIXELS` is refused as
`too_large` from its header, before a pixel is decoded (DICOM too, see
`dicom.py`); a 16-bit image is scaled without a float copy of its whole; and
an EXIF orientation (a phone photograph of a film, a scanner's TIFF) is
honoured, so the film is read upright as a viewer shows it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fracture.imaging.formats import is_dicom
from fracture.imaging.pixels import UnreadableImage, check_size, scale_to_uint8


def read_grayscale(path: Path | str) -> np.ndarray:
    """The image at `path` as a 2-D uint8 array."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise UnreadableImage("empty_file")
        if is_dicom(path):
            from fracture.imaging.dicom import read_dicom  # pydicom is loaded only when a DICOM file is met

            return read_dicom(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # MAX_PIXELS, checked next, is lower
            # From a handle, not a name: Pillow maps an uncompressed file by name, and then reads a TIFF whose
            # orientation turns it by a quarter into the wrong shape.
            with open(path, "rb") as handle, Image.open(handle) as image:  # reads the header only
                check_size(*image.size)
                image.load()
                ImageOps.exif_transpose(image, in_place=True)  # a TIFF's is done by Pillow as it loads
                return to_uint8_gray(image)
    except UnidentifiedImageError:
        raise UnreadableImage("not_an_image", "not a PNG, JPEG, TIFF or DICOM file") from None
    except Image.DecompressionBombError as error:
        raise UnreadableImage("too_large", str(error)) from None
    except FileNotFoundError:
        raise UnreadableImage("missing_file", str(path)) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise UnreadableImage("truncated_or_corrupt", str(error)) from None


def to_uint8_gray(image: Image.Image) -> np.ndarray:
    """Convert any PIL mode to 8-bit grayscale; deeper images are scaled by their own range."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        return scale_to_uint8(np.asarray(image))
    if image.mode != "L":
        image = image.convert("L")
    return np.asarray(image, dtype=np.uint8).copy()
