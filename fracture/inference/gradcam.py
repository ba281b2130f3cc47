"""Grad-CAM: where in the radiograph the model looked for its answer.

The heat map of the last convolutional stage, weighted by the gradient of the
chosen class's logit, is laid over the image the model saw.
"""

from __future__ import annotations

import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import show_cam_on_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from fracture.inference.presets import ModelInput
from fracture.models.architectures import GrayscaleBackbone, SimpleCNN
from fracture.models.fracture_map import FractureMap


def target_layer(model: nn.Module) -> nn.Module:
    """The last convolutional stage: named for the torchvision families, else the last convolution (of a fracture
    map model, its classifier's)."""
    if isinstance(model, FractureMap):
        return target_layer(model.classifier)
    if isinstance(model, SimpleCNN):
        return model.features[-2]  # the last block's ReLU, before its pooling
    backbone = model.backbone if isinstance(model, GrayscaleBackbone) else model
    if hasattr(backbone, "layer4"):
        return backbone.layer4[-1]
    if isinstance(getattr(backbone, "features", None), nn.Sequential):
        return backbone.features[-1]
    convolutions = [module for module in backbone.modules() if isinstance(module, nn.Conv2d)]
    if not convolutions:
        raise ValueError(f"no convolution in {type(backbone).__name__} for Grad-CAM")
    return convolutions[-1]


def cam_maps(model: nn.Module, images: torch.Tensor, inputs: ModelInput, classes: list[int]) -> np.ndarray:
    """The class-`classes[i]` Grad-CAM of each uint8 image (N x 1 x H x W), N x H x W, at the input's size."""
    model.eval()
    batch = inputs(images).requires_grad_(True)
    with GradCAM(model=model, target_layers=[target_layer(model)]) as cam:
        return cam(input_tensor=batch, targets=[ClassifierOutputTarget(c) for c in classes])


def cam_overlays(model: nn.Module, images: torch.Tensor, inputs: ModelInput, classes: list[int]) -> list[np.ndarray]:
    """RGB uint8 overlays of the class-`classes[i]` Grad-CAM on each uint8 image (N x 1 x H x W)."""
    return overlays(images, cam_maps(model, images, inputs, classes))


def overlays(images: torch.Tensor, maps: np.ndarray) -> list[np.ndarray]:
    """Each map laid over its uint8 image (N x 1 x H x W) as RGB uint8: red is where the answer came from."""
    grey = images[:, 0].numpy().astype(np.float32) / 255.0
    return [show_cam_on_image(np.repeat(g[..., None], 3, axis=2), h, use_rgb=True, image_weight=0.6)
            for g, h in zip(grey, maps)]
