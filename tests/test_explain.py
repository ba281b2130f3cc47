import numpy as np
import pandas as pd
import pytest
import torch

from fracture.evaluation import Task
from fracture.explain import cam_overlays, pick_examples, target_layer
from fracture.models import ARCHITECTURES, build_model
from fracture.preprocessing import Normalization


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
    overlays = cam_overlays(model, images, Normalization(0.5, 0.25), [1, 0, 1], torch.device("cpu"))
    assert len(overlays) == 3 and overlays[0].shape == (32, 32, 3) and overlays[0].dtype == np.uint8


def test_examples_are_the_most_confident_of_each_outcome():
    predictions = pd.DataFrame({"image_id": list("abcdef"), "label": [1, 1, 0, 0, 1, 0],
                                "probability": [0.9, 0.6, 0.7, 0.1, 0.2, 0.3], "predicted": [1, 1, 1, 0, 0, 0]})
    picked = pick_examples(predictions, 1, Task("fracture", ["normal", "abnormal"], threshold=0.5))
    assert {outcome: rows["image_id"].tolist() for outcome, rows in picked.items()} == {
        "true_positive": ["a"], "false_positive": ["c"], "false_negative": ["e"], "true_negative": ["d"]}
