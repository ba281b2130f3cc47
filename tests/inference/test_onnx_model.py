"""An ONNX file from elsewhere is held to what a checkpoint is: each fracture.* value JSON, the required ones there,
every field within its bounds and the graph the size and classes its metadata says; anything else one line."""

import json

import onnx
import pytest
import torch

from fracture.__main__ import main
from fracture.core.errors import UserError
from fracture.imaging.filters import FilterStep
from fracture.imaging.preprocessing import Normalization, Preprocessing
from fracture.imaging.screening import QualityRules
from fracture.inference.checkpoint import CheckpointMetadata, Thresholds
from fracture.inference.export import export_onnx
from fracture.inference.loaded_model import LoadedModel
from fracture.inference.onnx_model import OnnxModel
from fracture.models.architectures import build_model
from tests.conftest import radiograph_like, write_png


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny model's export, made once: each test plants an edited copy."""
    torch.manual_seed(0)
    preprocessing = Preprocessing(32, (FilterStep("clahe", {"clip_limit": 2.0, "tile_grid": 4}),),
                                  Normalization(0.45, 0.22))
    metadata = CheckpointMetadata("simple_cnn", 4, "fracture", ["normal", "abnormal"], preprocessing,
                                  Thresholds(0.5, None, "youden"), 1, versions={"fracture": "0.3.0"},
                                  quality=QualityRules(64, 2.0))
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    export_onnx(LoadedModel(build_model("simple_cnn", 2, width=4).eval(), metadata, torch.device("cpu")), path)
    return path


def _planted(exported, folder, **changes):
    """A copy of the export with fracture.<key> set to a text (None: removed), added where it has none."""
    graph = onnx.load(str(exported))
    values = {prop.key: prop.value for prop in graph.metadata_props}
    for key, text in changes.items():
        values.pop(f"fracture.{key}", None)
        if text is not None:
            values[f"fracture.{key}"] = text
    del graph.metadata_props[:]
    for key, text in values.items():
        graph.metadata_props.add(key=key, value=text)
    onnx.save(graph, str(folder / "planted.onnx"))
    return folder / "planted.onnx"


def _preprocessing(exported, **changes) -> str:
    values = json.loads({prop.key: prop.value for prop in onnx.load(str(exported)).metadata_props}[
        "fracture.preprocessing"])
    return json.dumps({**values, **changes})


def test_the_export_loads_as_it_was_written(exported):
    model = OnnxModel.load(exported)
    assert model.classes == ["normal", "abnormal"] and model.threshold == 0.5 and model.preprocessing.image_size == 32


@pytest.mark.parametrize("changes, expected", [
    ({"classes": None}, "fracture.classes is missing"),
    ({"thresholds": "{image: 0.5"}, "fracture.thresholds = '{image: 0.5' is not JSON"),
    ({"thresholds": "[" * 100_000}, "fracture.thresholds = '[[[[[[[[[[[[...[[[[[[[[[[[[[' is not JSON"),
    ({"thresholds": json.dumps({"image": 1.5})}, "fracture.thresholds.image = 1.5 is not a probability"),
    ({"tta": json.dumps("vflip")}, "fracture.tta = 'vflip' is not one of none, hflip"),
    ({"colour_space": '"rgb"'}, "fracture.colour_space is unknown to this version"),
])
def test_metadata_that_is_not_json_missing_or_out_of_bounds_is_one_line_naming_the_field(exported, tmp_path, changes,
                                                                                        expected):
    planted = _planted(exported, tmp_path, **changes)
    with pytest.raises(UserError) as error:
        OnnxModel.load(planted)
    message = str(error.value)
    assert message.startswith(f"{planted}: {expected}") and "\n" not in message and len(message) < 400
    assert message.endswith("it was written by fracture 0.3.0: export it again from its checkpoint (dvc repro)")


@pytest.mark.parametrize("preprocessing, expected", [
    ({"image_size": 1_000_000}, "fracture.preprocessing.image_size = 1000000 is not an integer from 32 to 1024"),
    ({"image_size": 64}, "fracture.preprocessing.image_size = 64 does not fit the graph's input"),
    ({"filters": [{"name": "median", "options": {"kernel": 4}}]},
     "fracture.preprocessing.filters[0].options.kernel = 4 is not an odd integer from 3 to 255"),
])
def test_a_preprocessing_out_of_bounds_or_unlike_the_graph_is_one_line(exported, tmp_path, preprocessing, expected):
    planted = _planted(exported, tmp_path, preprocessing=_preprocessing(exported, **preprocessing))
    with pytest.raises(UserError, match=r"^" + str(planted) + ": " + expected.replace("(", r"\(").replace("[", r"\[")):
        OnnxModel.load(planted)


def test_classes_unlike_the_graph_output_are_one_line(exported, tmp_path):
    planted = _planted(exported, tmp_path, task='"region"', thresholds="{}",
                       classes=json.dumps(["hand", "leg", "wrist"]))
    with pytest.raises(UserError, match=r"fracture.classes = \['hand', 'leg', 'wrist'\] does not fit the graph's "
                                        r"output .* \(probabilities: N x 3\)"):
        OnnxModel.load(planted)


def test_predict_with_a_planted_onnx_file_is_one_line_naming_the_field(exported, tmp_path, capsys):
    planted = _planted(exported, tmp_path, classes=None)
    write_png(tmp_path / "film.png", radiograph_like(0))
    with pytest.raises(SystemExit) as exit_code:
        main(["predict", "--model", str(planted), "--out", str(tmp_path / "out.csv"), str(tmp_path / "film.png")])
    stderr = capsys.readouterr().err
    assert exit_code.value.code == 1 and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (f"error: {planted}: fracture.classes is missing; it was written by "
                                               f"fracture 0.3.0: export it again from its checkpoint (dvc repro)")
    assert not (tmp_path / "out.csv").exists()
