"""A fracture map: a dense one-channel map over a classifier's stride-8 (or 4) to stride-32 features.

A global head answers "fractured?" from pooled features, and nothing in its
loss says where; on FracAtlas its Grad-CAM peak fell in an annotator's box
less often than a centred blob's. The map is trained against the annotators'
boxes (`training.map_targets`), so where it is high is where the model was
taught a fracture is, and it is the explanation evaluate scores.

The decoder is a small feature pyramid (Lin et al., 2017): each tapped stage
is projected to DECODER_WIDTH channels, the coarser added to the finer after
upsampling, and a 3 x 3 and a 1 x 1 convolution give one logit per cell at
the finest tap's stride: 8 (`stride`), or 4 for cells as small as a phalanx
fracture at 224 px; each network's stages from that stride to 32 are tapped
(simple_cnn has no stride 32). The image's fracture logit is the map's pooled
logit (`pooling`: a smooth maximum, log-sum-exp with sharpness LSE_SHARPNESS,
or the plain maximum), alone or averaged with the classifier's own
(`fusion`). The output stays two class logits, (0, z), so that every use of a
model (softmax, thresholds, Grad-CAM, ONNX) reads a map model as it reads any
other.

A map's boxes are, by default, the extent of each peak of the map
(`inference.map_boxes`); a stride-8 cell is as wide as a phalanx fracture, so
that extent rarely overlaps the annotator's box by half. With `box:
regressed` a second branch of the decoder regresses, at every cell, the
distances from its centre to the four sides of the fracture's box (FCOS, Tian
et al., 2019), trained where the box lies (`training.map_targets`), and a
peak's box is the one its cell regressed.

The stages are tapped with forward hooks on the classifier's own modules, so
the pretrained network runs unchanged and once per batch. A hook is an
object holding its place in the model's list of kept outputs, so a copy of
the model (the moving average of its weights) keeps its own.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fracture.core.errors import UserError

HEADS = ("global", "map")
POOLINGS = ("lse", "max")
FUSIONS = ("mean", "map")
MAP_STRIDES = (8, 4)
MAP_BOXES = ("extent", "regressed")
DECODER_WIDTH = 64
LSE_SHARPNESS = 4.0
STRIDES = (4, 8, 16, 32)
# The stages of the torchvision families at each stride (simple_cnn's after its second, third and fourth blocks);
# timm's come from each model's own `feature_info`.
TAPS = {
    "simple_cnn": {4: "features.7", 8: "features.11", 16: "features.15"},
    "resnet18": {4: "backbone.layer1", 8: "backbone.layer2", 16: "backbone.layer3", 32: "backbone.layer4"},
    "resnet50": {4: "backbone.layer1", 8: "backbone.layer2", 16: "backbone.layer3", 32: "backbone.layer4"},
    "densenet121": {4: "backbone.features.denseblock1", 8: "backbone.features.denseblock2",
                    16: "backbone.features.denseblock3", 32: "backbone.features.norm5"},
    "vgg16": {4: "backbone.features.9", 8: "backbone.features.16", 16: "backbone.features.23",
              32: "backbone.features.30"},
    "efficientnet_b0": {4: "backbone.features.2", 8: "backbone.features.3", 16: "backbone.features.5",
                        32: "backbone.features.7"},
}
PROBE_SIZE = 64  # the side of the blank image that finds each tap's stride and channels


@dataclass(frozen=True)
class HeadSpec:
    """What answers: the classifier's global head, or a fracture map pooled (and fused with it)."""

    kind: str = "global"
    pooling: str = "lse"
    fusion: str = "mean"
    stride: int = 8  # the map's cell: the finest tapped stage's stride
    box: str = "extent"  # a peak's box: the extent of the map's peak, or the box its cell regressed

    @property
    def regresses(self) -> bool:
        """Whether the map's cells regress their boxes, a map of five channels: the logit, then the box's corners."""
        return self.is_map and self.box == "regressed"

    @property
    def is_map(self) -> bool:
        return self.kind == "map"

    def to_dict(self) -> dict:
        return asdict(self)


class _Keep:
    """A forward hook that keeps its module's output in the map model's list of kept outputs."""

    def __init__(self, kept: list, index: int):
        self.kept, self.index = kept, index

    def __call__(self, module: nn.Module, inputs, output) -> None:
        self.kept[self.index] = output


def _taps(arch: str, classifier: nn.Module, finest: int) -> list[str | None]:
    """The names of the stages at `finest` stride and coarser, or None where the finest is missing."""
    if arch in TAPS:
        by_stride = TAPS[arch]
    else:
        info = getattr(getattr(classifier, "backbone", None), "feature_info", None) or []
        by_stride = {item["reduction"]: f"backbone.{item['module']}" for item in info if isinstance(item, dict)}
    coarser = [by_stride[stride] for stride in STRIDES if stride > finest and stride in by_stride]
    return [by_stride.get(finest), *coarser]


def pool_map(logits: torch.Tensor, pooling: str) -> torch.Tensor:
    """One logit per image from its map's cells (N x 1 x h x w): their maximum, or a smooth maximum that lets every
    high cell count."""
    cells = logits.flatten(1)
    if pooling == "max":
        return cells.amax(dim=1)
    return (torch.logsumexp(LSE_SHARPNESS * cells, dim=1) - math.log(cells.shape[1])) / LSE_SHARPNESS


def cell_centres(cells: tuple[int, int], stride: float, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The centres of a map's columns and rows (w and h values) in input pixels."""
    rows, columns = cells
    return ((torch.arange(columns, device=device, dtype=torch.float32) + 0.5) * stride,
            (torch.arange(rows, device=device, dtype=torch.float32) + 0.5) * stride)


def box_corners(sides: torch.Tensor, stride: float) -> torch.Tensor:
    """Each cell's box (N x 4 x h x w: x0, y0, x1, y1 in input pixels) from its regressed distances to the box's
    left, top, right and bottom sides, in cells through a softplus (a box holds its cell's centre)."""
    x, y = cell_centres(sides.shape[-2:], stride, sides.device)
    distances = F.softplus(sides) * stride
    return torch.stack([x[None, None, :] - distances[:, 0], y[None, :, None] - distances[:, 1],
                        x[None, None, :] + distances[:, 2], y[None, :, None] + distances[:, 3]], 1)


class FractureMap(nn.Module):
    """A classifier whose answer comes from a fracture map over its own features (see the module's docstring)."""

    def __init__(self, arch: str, classifier: nn.Module, spec: HeadSpec):
        super().__init__()
        self.classifier, self.pooling, self.fusion = classifier, spec.pooling, spec.fusion
        names = _taps(arch, classifier, spec.stride)
        modules = dict(classifier.named_modules(prefix="classifier"))
        taps = [modules.get(f"classifier.{name}") if name else None for name in names]
        self._kept: list = [None] * len(taps)
        if len(taps) < 2 or None in taps:
            raise UserError(f"model.head: map needs {arch}'s stride-{spec.stride} to stride-32 feature maps, and it "
                            f"exposes fewer than two or none at stride {spec.stride}; use model.head: global"
                            + (" or model.map_stride: 8" if spec.stride != 8 else ""))
        for index, module in enumerate(taps):
            module.register_forward_hook(_Keep(self._kept, index))
        channels = self._probe(arch)
        self.lateral = nn.ModuleList(nn.Conv2d(count, DECODER_WIDTH, 1) for count in channels)
        self.head = nn.Sequential(nn.Conv2d(DECODER_WIDTH, DECODER_WIDTH, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(DECODER_WIDTH), nn.ReLU(inplace=True),
                                  nn.Conv2d(DECODER_WIDTH, 1, 1))
        nn.init.constant_(self.head[-1].bias, -4.0)  # a fracture is rare among cells: start every cell near 2%
        self.sides = nn.Sequential(nn.Conv2d(DECODER_WIDTH, DECODER_WIDTH, 3, padding=1, bias=False),
                                   nn.BatchNorm2d(DECODER_WIDTH), nn.ReLU(inplace=True),
                                   nn.Conv2d(DECODER_WIDTH, 4, 1)) if spec.regresses else None

    @torch.no_grad()
    def _probe(self, arch: str) -> list[int]:
        """Each tap's channels, checked to be a feature map of a growing stride."""
        mode = self.classifier.training
        self.classifier.eval()
        self.classifier(torch.zeros(1, 1, PROBE_SIZE, PROBE_SIZE))
        self.classifier.train(mode)
        kept, self._kept[:] = list(self._kept), [None] * len(self._kept)
        sizes = [tuple(item.shape[-2:]) if isinstance(item, torch.Tensor) and item.dim() == 4 else None
                 for item in kept]
        if None in sizes or any(later[0] >= earlier[0] for earlier, later in zip(sizes, sizes[1:])):
            raise UserError(f"model.head: map needs {arch}'s stages as feature maps of growing stride, and they are "
                            f"not (a transformer's tokens, say); use model.head: global")
        return [item.shape[1] for item in kept]

    def outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two class logits (0, z) and the map (N x C x h x w, at the finest tap's stride): the fracture logit
        of each cell, then, with a regressed box, its box's corners (x0, y0, x1, y1) in input pixels."""
        global_logits = self.classifier(x)
        features, self._kept[:] = list(self._kept), [None] * len(self._kept)
        pyramid = self.lateral[-1](features[-1])
        for lateral, finer in zip(reversed(self.lateral[:-1]), reversed(features[:-1])):
            pyramid = lateral(finer) + F.interpolate(pyramid, size=finer.shape[-2:], mode="nearest")
        cells = self.head(pyramid)
        z = pool_map(cells.float(), self.pooling)
        if self.sides is not None:
            corners = box_corners(self.sides(pyramid).float(), x.shape[-1] / cells.shape[-1])
            cells = torch.cat([cells.float(), corners], dim=1)
        if self.fusion == "mean":
            z = 0.5 * (z + (global_logits[:, 1] - global_logits[:, 0]).float())
        return torch.stack([torch.zeros_like(z), z], dim=1), cells

    def forward(self, x: torch.Tensor, with_map: bool = False):
        """The class logits; with `with_map` (training) the map's logits too, through the module's own call, as a
        DistributedDataParallel wrapper needs."""
        both = self.outputs(x)
        return both if with_map else both[0]

    def new_layers(self) -> nn.ModuleList:
        """The decoder: layers no pretrained weight covers."""
        return nn.ModuleList([self.lateral, self.head, *([self.sides] if self.sides is not None else [])])
