"""Grad-CAM: where in the radiograph the model looked for its answer.

The heat map of the last convolutional stage, weighted by the gradient of the
chosen class's logit, is laid over the image the model saw.
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import show_cam_on_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from .annotations import outlines
from .evaluation import Task
from .inference.predictor import standardised, to_unit
from .models import GrayscaleBackbone, SimpleCNN
from .preprocessing import Normalization


def target_layer(model: nn.Module) -> nn.Module:
    """The last convolutional stage: named for the torchvision families, else the last convolution."""
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


def cam_maps(model: nn.Module, images: torch.Tensor, normalization: Normalization, classes: list[int],
             device: torch.device) -> np.ndarray:
    """The class-`classes[i]` Grad-CAM of each uint8 image (N x 1 x H x W), N x H x W, at the input's size."""
    model.eval()
    inputs = standardised(to_unit(images, device), normalization).requires_grad_(True)
    with GradCAM(model=model, target_layers=[target_layer(model)]) as cam:
        return cam(input_tensor=inputs, targets=[ClassifierOutputTarget(c) for c in classes])


def cam_overlays(model: nn.Module, images: torch.Tensor, normalization: Normalization, classes: list[int],
                 device: torch.device) -> list[np.ndarray]:
    """RGB uint8 overlays of the class-`classes[i]` Grad-CAM on each uint8 image (N x 1 x H x W)."""
    return overlays(images, cam_maps(model, images, normalization, classes, device))


def overlays(images: torch.Tensor, maps: np.ndarray) -> list[np.ndarray]:
    """Each map laid over its uint8 image (N x 1 x H x W) as RGB uint8: red is where the answer came from."""
    grey = images[:, 0].numpy().astype(np.float32) / 255.0
    return [show_cam_on_image(np.repeat(g[..., None], 3, axis=2), h, use_rgb=True, image_weight=0.6)
            for g, h in zip(grey, maps)]


def outlined(overlay: np.ndarray, annotations: list[dict]) -> np.ndarray:
    """The overlay with the annotators' outlines (their boxes where they have none) drawn in green."""
    drawn = overlay.copy()
    for annotation in annotations:
        for polygon in outlines(annotation):
            points = np.round(np.reshape(polygon, (-1, 2)) - 0.5).astype(np.int32)  # pixel edges to pixel centres
            cv2.polylines(drawn, [points], isClosed=True, color=(0, 255, 0), thickness=1)
    return drawn


def pick_examples(predictions: pd.DataFrame, per_outcome: int, task: Task) -> dict[str, pd.DataFrame]:
    """The most confident examples of each outcome (binary) or of right and wrong answers (multi-class)."""
    if task.binary:
        label, called = predictions["label"] == 1, predictions["predicted"] == 1
        masks = {"true_positive": label & called, "false_positive": ~label & called,
                 "false_negative": label & ~called, "true_negative": ~label & ~called}
        confidence = (predictions["probability"] - task.threshold).abs()
    else:
        right = predictions["predicted"] == np.asarray(task.classes)[predictions["label"].to_numpy()]
        masks = {"correct": right, "wrong": ~right}
        confidence = predictions[task.probability_columns].max(axis=1)
    ranked = predictions.assign(_confidence=confidence).sort_values(["_confidence", "image_id"],
                                                                    ascending=[False, True])
    return {outcome: ranked[mask.loc[ranked.index]].head(per_outcome).drop(columns="_confidence")
            for outcome, mask in masks.items()}
