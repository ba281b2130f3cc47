"""Whether a radiograph file is usable: readable, large enough, not blank.

The filter stage decides this for the training data, and the checkpoint keeps
the rules (`filter.min_size`, `filter.min_std`) so that `predict` refuses,
with the same reason, an image the pipeline would never have trained or
tested on, instead of giving it a probability.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fracture.core.params import Bound
from fracture.imaging.pixels import UnreadableImage

# The least of each rule, in params.yaml and in a model file alike. No upper bound: a stricter rule refuses more
# films, each with its reason, and asks for nothing more.
MIN_SIZE, MIN_STD = Bound(1, integer=True), Bound(0.0)


@dataclass(frozen=True)
class QualityRules:
    """The smallest side in pixels, and the least grey-level standard deviation, of a usable image."""

    min_size: int
    min_std: float

    def check(self, image: np.ndarray) -> None:
        """Raise UnreadableImage(`too_small` or `blank`) for an image these rules reject."""
        if min(image.shape) < self.min_size:
            raise UnreadableImage("too_small", f"{image.shape[1]}x{image.shape[0]} pixels, under filter.min_size "
                                               f"{self.min_size}")
        if float(np.std(image)) < self.min_std:
            raise UnreadableImage("blank", f"grey-level spread under filter.min_std {self.min_std}")
