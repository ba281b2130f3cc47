"""Probabilities with test-time augmentation, and the device's error naming the option that asked for it."""

import pytest
import torch

from fracture.core.errors import UserError
from fracture.imaging.preprocessing import Normalization
from fracture.inference.device import resolve_device
from fracture.inference.predictor import predict_probabilities
from fracture.inference.presets import ModelInput
from fracture.models.architectures import build_model


def test_hflip_is_the_mean_of_the_film_and_its_mirror_image():
    torch.manual_seed(0)
    model = build_model("simple_cnn", 2, width=4).eval()
    images = torch.randint(0, 256, (5, 1, 32, 32), dtype=torch.uint8)
    inputs = ModelInput(Normalization(0.5, 0.25), torch.device("cpu"))
    plain = predict_probabilities(model, images, inputs)
    mirrored = predict_probabilities(model, images.flip(-1), inputs)
    both = predict_probabilities(model, images, inputs, tta="hflip", batch_size=2)
    assert torch.allclose(both, (plain + mirrored) / 2, atol=1e-6)
    assert not torch.allclose(both, plain, atol=1e-4), "the mirror image changes the answer of a random net"
    assert torch.allclose(predict_probabilities(model, images.flip(-1), inputs, tta="hflip"), both,
                          atol=1e-6), "with hflip a film and its mirror image get one answer"


@pytest.mark.parametrize("setting", ["train.device", "--device"])
def test_asking_for_a_missing_gpu_names_what_asked(monkeypatch, setting):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match=f"^{setting} = 'cuda' but no CUDA GPU is visible"):
        resolve_device("cuda", setting=setting)
    assert resolve_device("auto", setting=setting).type == "cpu"
