"""The ONNX export: parity with PyTorch for the project's kinds of architecture (with and without test-time
augmentation), and the metadata that makes the file self-describing."""

import json

import numpy as np
import onnx
import pytest
import torch

from fracture.core.errors import UserError
from fracture.imaging.filters import FilterStep
from fracture.imaging.preprocessing import Normalization, Preprocessing
from fracture.imaging.screening import QualityRules
from fracture.inference.checkpoint import CheckpointMetadata, Thresholds
from fracture.inference.export import BOX_PARITY_LIMIT, PARITY_LIMIT, AveragingMatrices, export_onnx, exportable, parity
from fracture.inference.loaded_model import LoadedModel
from fracture.inference.onnx_model import OnnxModel
from fracture.models.architectures import build_model

SIZE = 64


def _model(arch: str, tta: str = "none", task: str = "fracture") -> LoadedModel:
    classes = ["normal", "abnormal"] if task == "fracture" else ["hand", "leg", "wrist"]
    torch.manual_seed(0)
    network = build_model(arch, len(classes), pretrained=False, width=4).eval()
    preprocessing = Preprocessing(SIZE, (FilterStep("clahe", {"clip_limit": 2.0, "tile_grid": 4}),),
                                  Normalization(0.45, 0.22))
    thresholds = Thresholds(0.5, 0.6, "youden") if task == "fracture" else Thresholds()
    metadata = CheckpointMetadata(arch, 4, task, classes, preprocessing, thresholds, 1,
                                  quality=QualityRules(64, 2.0), trained_on={"images": {"train": 3, "val": 1},
                                                                             "sha256": ["a", "b", "c", "d"]}, tta=tta)
    return LoadedModel(network, metadata, torch.device("cpu"))


def _images(count: int = 12) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (count, SIZE, SIZE), dtype=np.uint8)


@pytest.mark.parametrize("arch, tta", [("simple_cnn", "none"), ("resnet18", "hflip"), ("efficientnet_lite0", "none"),
                                       ("timm/test_efficientnet", "hflip")])
def test_the_export_computes_what_pytorch_computes(tmp_path, arch, tta):
    model = _model(arch, tta)
    export_onnx(model, tmp_path / "model.onnx")
    report = parity(tmp_path / "model.onnx", model, _images())
    assert report["max_abs_difference"] <= PARITY_LIMIT and report["changed_decisions"] == 0, report
    assert report["images"] == 12 and report["tta"] == tta


def test_the_batch_is_dynamic_and_the_metadata_describes_the_model(tmp_path):
    model = _model("simple_cnn", task="region")
    export_onnx(model, tmp_path / "model.onnx")
    graph = onnx.load(str(tmp_path / "model.onnx"))
    assert graph.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    metadata = {prop.key: prop.value for prop in graph.metadata_props}
    assert json.loads(metadata["fracture.classes"]) == ["hand", "leg", "wrist"]
    assert json.loads(metadata["fracture.preprocessing"])["filters"][0]["name"] == "clahe"
    assert json.loads(metadata["fracture.trained_on"])["images"] == {"train": 3, "val": 1}
    loaded = OnnxModel.load(tmp_path / "model.onnx")
    assert loaded.preprocessing == model.preprocessing and loaded.quality == QualityRules(64, 2.0)
    for count in (1, 70):  # one image, and more than one ONNX batch
        assert loaded.scores(_images(count)).shape == (count, 3)


def test_a_file_that_is_no_export_of_this_project_is_one_line(tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"not onnx")
    with pytest.raises(UserError, match="not an ONNX model that ONNX Runtime can load"):
        OnnxModel.load(tmp_path / "junk.onnx")
    bare = tmp_path / "bare.onnx"
    torch.onnx.export(torch.nn.Linear(2, 2), (torch.zeros(1, 2),), str(bare), dynamo=False)
    with pytest.raises(UserError, match="not an ONNX model exported by this project"):
        OnnxModel.load(bare)


@pytest.mark.parametrize("size_in, size_out", [((1, 1), (7, 7)), ((4, 4), (7, 7)), ((5, 3), (2, 2)), ((6, 6), (3, 3))])
def test_averaging_matrices_pool_as_adaptive_average_pooling_does(size_in, size_out):
    features = torch.randn(2, 3, *size_in)
    expected = torch.nn.AdaptiveAvgPool2d(size_out)(features)
    assert torch.allclose(AveragingMatrices(size_in, size_out)(features), expected, atol=1e-6)


def test_a_pool_onnx_cannot_express_is_replaced_only_where_it_must_be():
    network = _model("vgg16").network
    replaced = exportable(network, 128)  # vgg16's 4 x 4 map into a 7 x 7 pool
    assert isinstance(replaced.backbone.avgpool, AveragingMatrices)
    assert isinstance(network.backbone.avgpool, torch.nn.AdaptiveAvgPool2d), "the model itself is left alone"
    assert isinstance(exportable(network, 224).backbone.avgpool, torch.nn.AdaptiveAvgPool2d), "7 x 7 into 7 x 7"
    images = torch.rand(2, 1, 128, 128)
    with torch.no_grad():
        assert torch.allclose(replaced(images), network.eval()(images), atol=1e-5)


def test_a_network_onnx_cannot_express_is_one_line_and_leaves_no_file(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise torch.onnx.errors.UnsupportedOperatorError("aten::made_up", 17, 17)

    monkeypatch.setattr(torch.onnx, "export", refuse)
    with pytest.raises(UserError, match=r"^export: simple_cnn at 64 px cannot be exported to ONNX opset 17 \("):
        export_onnx(_model("simple_cnn"), tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


def _map_model(arch: str, temperature: float = 1.0, bias: float = 0.0, box: str = "extent") -> LoadedModel:
    from dataclasses import replace

    from fracture.models.fracture_map import HeadSpec

    model = _model(arch)
    torch.manual_seed(1)
    head = HeadSpec("map", "lse", "mean", box=box)
    network = build_model(arch, 2, pretrained=False, width=4, head=head).eval()
    return LoadedModel(network, replace(model.metadata, head=head, temperature=temperature,
                                                calibration_bias=bias), torch.device("cpu"))


@pytest.mark.parametrize("arch, box", [("simple_cnn", "extent"), ("efficientnet_lite0", "extent"),
                                       ("simple_cnn", "regressed")])
def test_the_export_carries_the_fracture_map_and_the_calibration_with_parity(tmp_path, arch, box):
    model = _map_model(arch, temperature=2.5, bias=-1.5, box=box)
    export_onnx(model, tmp_path / "model.onnx")
    report = parity(tmp_path / "model.onnx", model, _images())
    assert report["max_abs_difference"] <= PARITY_LIMIT and report["map_max_abs_difference"] <= 1e-3, report
    assert ("box_max_abs_difference" in report) == (box == "regressed")
    assert report.get("box_max_abs_difference", 0.0) <= BOX_PARITY_LIMIT, report
    exported = OnnxModel.load(tmp_path / "model.onnx")
    channels = 5 if box == "regressed" else 1  # the logits, then each pixel's box corners
    assert exported.has_map and exported.maps(_images(3)).shape == (3, channels, SIZE, SIZE)
    np.testing.assert_allclose(exported.maps(_images(3)), model.maps(_images(3)), atol=BOX_PARITY_LIMIT)
    untempered = _map_model(arch)
    assert not np.allclose(model.scores(_images(3)), untempered.scores(_images(3))), "the calibration is applied"
    np.testing.assert_allclose(exported.scores(_images(3)), model.scores(_images(3)), atol=PARITY_LIMIT)
    described = {item.key: item.value for item in onnx.load(tmp_path / "model.onnx").metadata_props}
    assert json.loads(described["fracture.calibration_bias"]) == -1.5 and json.loads(
        described["fracture.temperature"]) == 2.5


def test_an_export_whose_outputs_do_not_fit_its_head_is_one_line(tmp_path):
    model = _map_model("simple_cnn")
    export_onnx(model, tmp_path / "model.onnx")
    graph = onnx.load(str(tmp_path / "model.onnx"))
    for name, head in (("global", {"kind": "global", "pooling": "lse", "fusion": "mean"}),
                       ("regressed", {"kind": "map", "pooling": "lse", "fusion": "mean", "box": "regressed"})):
        for entry in graph.metadata_props:
            if entry.key == "fracture.head":
                entry.value = json.dumps(head)
        onnx.save(graph, str(tmp_path / f"{name}.onnx"))
        with pytest.raises(UserError, match="fracture.head .* does not fit the graph's outputs"):
            OnnxModel.load(tmp_path / f"{name}.onnx")
