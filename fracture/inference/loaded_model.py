"""A trained model ready to use: its network on a device, and what its checkpoint says about using it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fracture.imaging.preprocessing import Preprocessing
from fracture.imaging.screening import QualityRules
from fracture.inference.checkpoint import CheckpointMetadata, load_checkpoint
from fracture.inference.predictor import predict_maps, predict_probabilities
from fracture.inference.presets import ModelInput


@dataclass(frozen=True)
class LoadedModel:
    network: nn.Module
    metadata: CheckpointMetadata
    device: torch.device

    @classmethod
    def load(cls, path: Path | str, device: torch.device) -> "LoadedModel":
        network, metadata = load_checkpoint(path, device)
        return cls(network, metadata, device)

    @property
    def preprocessing(self) -> Preprocessing:
        return self.metadata.preprocessing

    @property
    def inputs(self) -> ModelInput:
        return ModelInput.on(self.preprocessing.normalization, self.device)

    @property
    def classes(self) -> list[str]:
        return self.metadata.classes

    @property
    def threshold(self) -> float | None:
        return self.metadata.thresholds.image

    @property
    def quality(self) -> QualityRules | None:
        return self.metadata.quality

    def probabilities(self, images: torch.Tensor) -> np.ndarray:
        """Class probabilities (N x classes) of uint8 images prepared by `preprocessing`, with the checkpoint's
        test-time augmentation and calibration."""
        return predict_probabilities(self.network, images, self.inputs, self.metadata.tta,
                                     calibration=self.metadata.calibration).numpy()

    def scores(self, images: np.ndarray) -> np.ndarray:
        """As `probabilities`, for uint8 arrays (N x size x size), as `OnnxModel.scores` takes them."""
        return self.probabilities(torch.from_numpy(images).unsqueeze(1))

    @property
    def has_map(self) -> bool:
        return self.metadata.head.is_map

    def maps(self, images: np.ndarray) -> np.ndarray:
        """The fracture map of uint8 arrays (N x C x size x size: logits, then any regressed box corners) at the
        input's size, as `OnnxModel.maps` gives it."""
        return predict_maps(self.network, torch.from_numpy(images).unsqueeze(1), self.inputs).numpy()

    def overlays(self, images: np.ndarray, classes: list[int]) -> list[np.ndarray]:
        """Grad-CAM of each image for its class, over the image."""
        from fracture.inference.gradcam import cam_overlays

        return cam_overlays(self.network, torch.from_numpy(images).unsqueeze(1), self.inputs, classes)
