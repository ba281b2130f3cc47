import numpy as np
import pandas as pd
import pytest
import torch

from fracture.evaluation.examples import pick_examples
from fracture.evaluation.scoring import Task
from fracture.imaging.preprocessing import Normalization
from fracture.inference.gradcam import cam_overlays, target_layer
from fracture.inference.presets import ModelInput
from fracture.models.architectures import ARCHITECTURES, build_model


@pytest.mark.parametrize("arch", [*ARCHITECTURES, "timm/test_resnet", "timm/test_efficientnet", "timm/test_convnext"])
def test_the_target_layer_is_a_spatial_feature_map(arch):
    model = build_model(arch, 2).eval()
    shapes = []
    target_layer(model).register_forward_hook(lambda module, inputs, output: shapes.append(output.shape))
    with torch.no_grad():
        model(torch.rand(1, 1, 64, 64))
    assert len(shapes[-1]) == 4 and shapes[-1][-1] >= 2


def test_overlays_are_rgb_images_of_the_input_size():
    model = build_model("simple_cnn", 2, width=4)
    images = torch.randint(0, 255, (3, 1, 32, 32), dtype=torch.uint8)
    overlays = cam_overlays(model, images, ModelInput(Normalization(0.5, 0.25), torch.device("cpu")), [1, 0, 1])
    assert len(overlays) == 3 and overlays[0].shape == (32, 32, 3) and overlays[0].dtype == np.uint8


def test_examples_are_the_most_confident_of_each_outcome():
    predictions = pd.DataFrame({"image_id": list("abcdef"), "label": [1, 1, 0, 0, 1, 0],
                                "probability": [0.9, 0.6, 0.7, 0.1, 0.2, 0.3], "predicted": [1, 1, 1, 0, 0, 0]})
    picked = pick_examples(predictions, 1, Task("fracture", ["normal", "abnormal"], threshold=0.5))
    assert {outcome: rows["image_id"].tolist() for outcome, rows in picked.items()} == {
        "true_positive": ["a"], "false_positive": ["c"], "false_negative": ["e"], "true_negative": ["d"]}


class _BrightSpotDetector(torch.nn.Module):
    """A made-up model whose fracture logit is the mean brightness seen through a strided convolution: its evidence
    is, by construction, wherever the image is bright."""

    def __init__(self, stride: int):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 1, kernel_size=stride, stride=stride, bias=False)
        self.head = torch.nn.Linear(1, 2)
        with torch.no_grad():
            self.conv.weight.fill_(1 / stride ** 2)
            self.head.weight.copy_(torch.tensor([[-1.0], [1.0]]))
            self.head.bias.zero_()

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))


@pytest.mark.parametrize("stride", [1, 4, 8])
def test_grad_cam_finds_the_evidence_of_a_model_whose_evidence_is_known(stride):
    from fracture.evaluation.localisation import image_scores
    from fracture.inference.gradcam import cam_maps

    images = torch.zeros((2, 1, 64, 64), dtype=torch.uint8)
    images[0, 0, 12:20, 40:48] = 255  # a spot inside the annotated box
    images[1, 0, 44:52, 8:16] = 255  # a spot far from it
    annotation = [{"box": [40, 12, 8, 8], "polygons": []}]
    model = _BrightSpotDetector(stride).eval()
    assert target_layer(model) is model.conv
    maps = cam_maps(model, images, ModelInput(Normalization(0.0, 1.0), torch.device("cpu")), [1, 1])
    assert maps.shape == (2, 64, 64)
    inside, outside = image_scores(maps[0], annotation), image_scores(maps[1], annotation)
    assert inside["hit"] == 1.0 and inside["mass_inside"] > 0.25, \
        "it peaks on the spot, upsampled in place (the box is 1.6% of the image)"
    assert outside["hit"] == 0.0 and outside["mass_inside"] < 0.05
