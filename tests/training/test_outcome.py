import pytest

from fracture.models.architectures import build_model
from fracture.training.outcome import collapse_advice


@pytest.mark.parametrize("arch, without_normalization", [("vgg16", True), ("timm/vgg16", True),
                                                         ("timm/vgg16_bn", False), ("simple_cnn", False)])
def test_a_collapsed_net_without_normalization_is_pointed_to_a_batchnorm_variant(arch, without_normalization):
    advice = collapse_advice(build_model(arch, 2, width=4))
    assert "lower train.lr" in advice
    assert ("timm/vgg16_bn" in advice) == without_normalization
