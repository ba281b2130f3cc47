from urllib.error import URLError

import huggingface_hub
import numpy as np
import pytest
import safetensors.torch
import skimage.data
import timm
import torch
import torchvision
from PIL import Image

from fracture.core.errors import UserError
from fracture.imaging.preprocessing import Normalization
from fracture.models.architectures import (
    ARCHITECTURES,
    LITE_NORMALIZATION,
    SimpleCNN,
    build_model,
    efficientnet_lite,
    pretrained_normalization,
    weights_cache_path,
)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_every_architecture_takes_a_grey_batch_and_learns_from_it(arch):
    model = build_model(arch, num_classes=2).eval()
    with torch.no_grad():
        logits = model(torch.rand(2, 1, 64, 64))
    assert logits.shape == (2, 2)
    model.train()
    loss = torch.nn.functional.cross_entropy(model(torch.rand(2, 1, 64, 64)), torch.tensor([0, 1]))
    loss.backward()
    gradients = [parameter.grad for parameter in model.parameters() if parameter.requires_grad]
    assert all(gradient is not None and torch.isfinite(gradient).all() for gradient in gradients)


def test_simple_cnn_is_the_seed_design():
    model = SimpleCNN(num_classes=2, width=8)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [conv.out_channels for conv in convs] == [8, 16, 32, 64]
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == 4
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in model.modules()) == 4
    assert {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)} == {0.3}


def test_simple_cnn_has_no_pretrained_weights():
    with pytest.raises(UserError, match="simple_cnn"):
        build_model("simple_cnn", 2, pretrained=True)


def _no_network(monkeypatch):
    def refuse(url, *args, **kwargs):
        raise URLError(f"no network in tests ({url})")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


def test_pretrained_weights_are_read_from_the_torch_home_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    _no_network(monkeypatch)
    saved = torchvision.models.resnet18(weights=None)
    cache = weights_cache_path("resnet18")
    assert cache.parent == tmp_path / "hub" / "checkpoints"
    cache.parent.mkdir(parents=True)
    torch.save(saved.state_dict(), cache)
    model = build_model("resnet18", num_classes=2, pretrained=True)
    assert torch.equal(model.backbone.conv1.weight, saved.conv1.weight)
    assert model.backbone.fc.out_features == 2


def test_pretrained_without_cache_or_network_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    _no_network(monkeypatch)
    with pytest.raises(UserError) as error:
        build_model("efficientnet_b0", num_classes=2, pretrained=True)
    message = str(error.value)
    assert str(weights_cache_path("efficientnet_b0")) in message and "model.pretrained: false" in message
    assert "\n" not in message


def test_a_corrupt_cached_file_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    _no_network(monkeypatch)
    cache = weights_cache_path("resnet18")
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"truncated")
    with pytest.raises(UserError, match="delete the file"):
        build_model("resnet18", num_classes=2, pretrained=True)


def _imagenet_class(model, photo: np.ndarray) -> int:
    """The top ImageNet class of an RGB photo, prepared as the weights expect (224 px bicubic, -1..1)."""
    resized = np.asarray(Image.fromarray(photo).resize((224, 224), Image.BICUBIC), dtype=np.float32) / 255.0
    inputs = torch.from_numpy(resized).permute(2, 0, 1)[None]
    inputs = (inputs - LITE_NORMALIZATION.mean) / LITE_NORMALIZATION.std
    with torch.no_grad():
        return int(model.eval()(inputs).argmax())


@pytest.mark.parametrize("arch", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_efficientnet_lite_weights_are_real_imagenet_weights_and_need_no_network(monkeypatch, arch):
    _no_network(monkeypatch)
    model = efficientnet_lite(arch, pretrained=True)
    assert 281 <= _imagenet_class(model, skimage.data.chelsea()) <= 285, "a cat"
    assert _imagenet_class(model, skimage.data.coffee()) == 967, "espresso"


def test_pretrained_efficientnet_lite0_keeps_its_weights_under_a_new_head():
    model = build_model("efficientnet_lite0", num_classes=2, pretrained=True)
    reference = efficientnet_lite("efficientnet_lite0", pretrained=True)
    assert torch.equal(model.backbone.conv_stem.weight, reference.conv_stem.weight)
    assert model.backbone.get_classifier().out_features == 2
    assert pretrained_normalization("efficientnet_lite0") == LITE_NORMALIZATION


TIMM_EXAMPLES = ["timm/test_resnet", "timm/test_efficientnet", "timm/test_convnext"]


@pytest.mark.parametrize("arch", TIMM_EXAMPLES)
def test_timm_models_take_a_grey_batch_too(arch):
    model = build_model(arch, num_classes=3).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 1, 64, 64)).shape == (2, 3)


def _hub_unreachable(monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise ConnectionError("no network in tests")

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)


def test_timm_pretrained_weights_come_from_the_hugging_face_cache(tmp_path, monkeypatch):
    _hub_unreachable(monkeypatch, tmp_path)
    saved = timm.create_model("test_resnet", pretrained=False)
    snapshot = tmp_path / "hub/models--timm--test_resnet.r160_in1k/snapshots/0123abcd"
    snapshot.mkdir(parents=True)
    safetensors.torch.save_file(saved.state_dict(), snapshot / "model.safetensors")
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs/main").write_text("0123abcd")
    model = build_model("timm/test_resnet", num_classes=2, pretrained=True)
    assert torch.equal(model.backbone.conv1[0].weight, saved.conv1[0].weight)
    assert model.backbone.get_classifier().out_features == 2
    assert pretrained_normalization("timm/test_resnet") == Normalization(0.5, 0.5)


def test_timm_pretrained_offline_without_cache_says_which_file_to_put_where(tmp_path, monkeypatch):
    _hub_unreachable(monkeypatch, tmp_path)
    with pytest.raises(UserError) as error:
        build_model("timm/test_resnet", num_classes=2, pretrained=True)
    message = str(error.value)
    assert "hf download timm/test_resnet.r160_in1k model.safetensors" in message and str(tmp_path / "hub") in message
    assert "model.pretrained: false" in message and "\n" not in message
