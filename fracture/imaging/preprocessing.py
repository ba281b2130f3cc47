"""What a model sees, defined once: letterbox size, filter chain, normalisation.

As torchvision's `presets.py` makes one object say how images become model
inputs, `Preprocessing` is written by the enhance stage (size and filters),
completed by training (the normalisation it chose), stored in the checkpoint,
and used unchanged by evaluate and predict. Nothing else resizes, filters or
normalises an image.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from fracture.core.params import Bound
from fracture.core.storage import read_json, write_json
from fracture.imaging.filters import Box, FilterStep, content_box, fit_square

# The enhance stage's output folder: the arrays, their manifest, this object and the annotations in input pixels.
IMAGES_FILE = "images.npy"
MANIFEST_FILE = "manifest.csv"
PREPROCESSING_FILE = "preprocessing.json"
ANNOTATIONS_FILE = "annotations.json"
# The side of a model's input square, in params.yaml and in a model file alike.
IMAGE_SIZE = Bound(32, 1024, integer=True)


@dataclass(frozen=True)
class Normalization:
    """Mean and standard deviation of pixel values on a 0..1 scale."""

    mean: float
    std: float

    @classmethod
    def of(cls, images) -> "Normalization":
        """Of uint8 images (a tensor), from their 256-bin histogram: exact, and no float copy of the data set."""
        import torch  # here, so that a model run by ONNX Runtime needs no PyTorch

        counts = torch.bincount(images.flatten(), minlength=256).to(torch.float64)
        values = torch.arange(256, dtype=torch.float64) / 255.0
        count = counts.sum()
        mean = (counts * values).sum() / count
        variance = (counts * (values - mean) ** 2).sum() / (count - 1)  # unbiased, as torch.std
        return cls(float(mean), float(variance.sqrt().clamp_min(1e-6)))


# ImageNet's RGB statistics averaged to one grey channel, for pretrained weights.
IMAGENET_GREY = Normalization(mean=0.449, std=0.226)


@dataclass(frozen=True)
class Preprocessing:
    """Fit into an `image_size` square (`fit`: letterbox or stretch), run `filters` in order, normalise by
    `normalization` (set by training)."""

    image_size: int
    filters: tuple[FilterStep, ...] = ()
    normalization: Normalization | None = None
    fit: str = "letterbox"

    def steps(self, image: np.ndarray) -> tuple[list[np.ndarray], Box]:
        """The letterboxed image and its state after each filter, and where the image lies in the square."""
        stages = [fit_square(image, self.image_size, self.fit)]
        for step in self.filters:
            stages.append(step.apply(stages[-1]))
        return stages, content_box(image.shape, self.image_size, self.fit)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """The uint8 square a model's input is made from."""
        return self.steps(image)[0][-1]

    def place(self, shape: tuple[int, int], annotations: list[dict]) -> list[dict]:
        """Boxes and outlines drawn on an image of `shape` (rows, columns), in the model input's pixels.

        Fitting scales the image and shifts it into the square; the filters
        move no pixel. Coordinates are of pixel edges, as in COCO.
        """
        box = content_box(shape, self.image_size, self.fit)
        scale_x, scale_y = box.width / shape[1], box.height / shape[0]

        def points(values: list[float]) -> list[float]:
            return [box.left + value * scale_x if index % 2 == 0 else box.top + value * scale_y
                    for index, value in enumerate(values)]

        return [{"box": points(item["box"][:2]) + [item["box"][2] * scale_x, item["box"][3] * scale_y],
                 "polygons": [points(polygon) for polygon in item["polygons"]]} for item in annotations]

    def normalized(self, normalization: Normalization) -> "Preprocessing":
        return replace(self, normalization=normalization)

    def to_dict(self) -> dict:
        return {"image_size": self.image_size, "fit": self.fit,
                "filters": [{"name": step.name, "options": dict(step.options)} for step in self.filters],
                "normalization": None if self.normalization is None else
                {"mean": self.normalization.mean, "std": self.normalization.std}}

    @classmethod
    def from_dict(cls, values: dict) -> "Preprocessing":
        normalization = values.get("normalization")
        return cls(int(values["image_size"]),
                   tuple(FilterStep(step["name"], step["options"]) for step in values["filters"]),
                   Normalization(**normalization) if normalization else None,
                   values.get("fit", "letterbox"))  # checkpoints older than `fit` letterboxed

    def write(self, folder: Path) -> None:
        write_json(folder / PREPROCESSING_FILE, self.to_dict())

    @classmethod
    def read(cls, folder: Path) -> "Preprocessing":
        return cls.from_dict(read_json(folder / PREPROCESSING_FILE))
