import copy

import pytest
import torch

from fracture.core.errors import UserError
from fracture.models.architectures import build_model, classifier_head
from fracture.models.fracture_map import HeadSpec, pool_map


@pytest.mark.parametrize("stride", [8, 4])
@pytest.mark.parametrize("arch", ["simple_cnn", "resnet18", "densenet121", "vgg16", "efficientnet_b0",
                                  "efficientnet_lite0", "timm/resnet18"])
def test_every_convolutional_family_gets_a_stride_8_or_4_map_and_two_class_logits(arch, stride):
    model = build_model(arch, 2, width=4, head=HeadSpec("map", stride=stride)).eval()
    with torch.no_grad():
        logits, cells = model.outputs(torch.rand(2, 1, 64, 64))
    side = 64 // stride
    assert logits.shape == (2, 2) and torch.equal(logits[:, 0], torch.zeros(2)) and cells.shape == (2, 1, side, side)
    head = {id(parameter) for parameter in classifier_head(model).parameters()}
    decoder = {id(parameter) for parameter in model.new_layers().parameters()}
    assert decoder <= head, "the decoder learns at the head's rate"


@pytest.mark.parametrize("arch", ["simple_cnn", "efficientnet_lite0"])
def test_a_map_that_regresses_its_boxes_gives_each_cell_a_box_around_its_centre(arch):
    model = build_model(arch, 2, width=4, head=HeadSpec("map", box="regressed")).eval()
    with torch.no_grad():
        logits, cells = model.outputs(torch.rand(2, 1, 64, 64))
    assert cells.shape == (2, 5, 8, 8) and logits.shape == (2, 2)
    centres = (torch.arange(8) + 0.5) * 8
    x0, y0, x1, y1 = cells[:, 1:].unbind(1)
    assert bool((x0 < centres).all() and (x1 > centres).all()), "each box holds its cell's centre"
    assert bool((y0 < centres[:, None]).all() and (y1 > centres[:, None]).all())
    assert {id(parameter) for parameter in model.sides.parameters()} <= {
        id(parameter) for parameter in model.new_layers().parameters()}, "the box branch learns at the head's rate"


def test_a_network_without_feature_maps_is_one_line():
    with pytest.raises(UserError, match="timm/vit_tiny_patch16_224.*use model.head: global"):
        build_model("timm/vit_tiny_patch16_224", 2, head=HeadSpec("map"))
    with pytest.raises(UserError, match="none at stride 4; use model.head: global or model.map_stride: 8"):
        build_model("timm/vit_tiny_patch16_224", 2, head=HeadSpec("map", stride=4))


def test_a_copy_of_the_model_keeps_its_own_features():
    model = build_model("simple_cnn", 2, width=4, head=HeadSpec("map")).eval()
    twin = copy.deepcopy(model)
    with torch.no_grad():
        for parameter in twin.parameters():
            parameter.add_(0.5)
        images = torch.rand(3, 1, 32, 32)
        expected = model(images)
        twin(images)
        assert torch.equal(model(images), expected) and not torch.allclose(twin(images), expected)


def test_pooling_is_a_smooth_maximum_or_the_maximum_and_fusion_averages_with_the_global_head():
    cells = torch.full((1, 1, 4, 4), -4.0)
    cells[0, 0, 1, 2] = 3.0
    assert pool_map(cells, "max").item() == 3.0
    assert -4.0 < pool_map(cells, "lse").item() < 3.0
    alone = build_model("simple_cnn", 2, width=4, head=HeadSpec("map", "max", "map")).eval()
    fused = build_model("simple_cnn", 2, width=4, head=HeadSpec("map", "max", "mean")).eval()
    fused.load_state_dict(alone.state_dict())
    images = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        global_logits = alone.classifier(images)
        z_map = alone.outputs(images)[1].flatten(1).amax(1)
        assert torch.allclose(alone(images)[:, 1], z_map)
        assert torch.allclose(fused(images)[:, 1], 0.5 * (z_map + global_logits[:, 1] - global_logits[:, 0]))
