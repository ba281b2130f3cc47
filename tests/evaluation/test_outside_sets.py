"""Outside sets: the checked `evaluate.external` params, validation of a made-up labelled folder (rejections
counted, metrics with intervals, localisation from its annotations), and the refusal of a set that overlaps the
model's training images."""

import hashlib
import json

import pandas as pd
import pytest
import torch
import yaml

from fracture.__main__ import main
from fracture.core.errors import ParamError, UserError
from fracture.evaluation.outside_sets import ExternalSet, Settings, external_sets, validate
from fracture.evaluation.scoring import evaluate_config
from fracture.imaging.preprocessing import Normalization, Preprocessing
from fracture.imaging.screening import QualityRules
from fracture.inference.checkpoint import CheckpointMetadata, Thresholds, save_checkpoint
from fracture.inference.loaded_model import LoadedModel
from fracture.models.architectures import build_model
from tests.conftest import radiograph_like, tiny_params, write_png

SIZE = 96


def _settings(**overrides) -> Settings:
    return Settings(evaluate_config(tiny_params(**{"evaluate.bootstrap_resamples": 50, **overrides})), 0.55)


def _metadata(trained_on=None) -> CheckpointMetadata:
    return CheckpointMetadata("simple_cnn", 4, "fracture", ["normal", "abnormal"],
                              Preprocessing(32, (), Normalization(0.4, 0.25)), Thresholds(0.5, None, "youden"), 1,
                              quality=QualityRules(min_size=64, min_std=2.0), trained_on=trained_on)


def _model(metadata: CheckpointMetadata) -> LoadedModel:
    return LoadedModel(build_model("simple_cnn", 2, width=4).eval(), metadata, torch.device("cpu"))


@pytest.fixture
def outside(tmp_path):
    """24 films in a labelled folder (hand and leg, half fractured, 12 groups of 2), a broken file, and a COCO box on
    every fractured film."""
    folder = tmp_path / "outside"
    rows, images, boxes = [], [], []
    for index in range(24):
        name = f"images/{index:02d}.png"
        write_png(folder / name, radiograph_like(100 + index, SIZE))
        label = index % 2
        rows.append({"path": name, "label": label, "region": "hand" if index < 12 else "leg",
                     "patient_id": f"p{index // 2}"})
        images.append({"id": index + 1, "file_name": name, "width": SIZE, "height": SIZE})
        if label:
            boxes.append({"id": index + 1, "image_id": index + 1, "bbox": [30, 30, 20, 20], "segmentation": []})
    (folder / "images/broken.png").write_bytes(b"not a png")
    rows.append({"path": "images/broken.png", "label": 1, "region": "hand", "patient_id": "p99"})
    pd.DataFrame(rows).to_csv(folder / "labels.csv", index=False)
    (folder / "annotations.json").write_text(json.dumps({"images": images, "annotations": boxes}))
    return folder


@pytest.mark.parametrize("sets, key", [
    ({"a": {"source": "synthetic", "path": "."}}, "evaluate.external.a.source"),
    ({"a": {"source": "folder", "path": "no/such/folder"}}, "evaluate.external.a.path"),
    ({"a": {"source": "folder", "path": ".", "region": ["hand"]}}, "evaluate.external.a.region"),
    ({"a": {"source": "folder", "path": ".", "regions": [3]}}, "evaluate.external.a.regions"),
    ({"a": "folder"}, "evaluate.external.a"),
    (["a"], "evaluate.external"),
])
def test_a_wrong_outside_set_is_one_line_naming_its_key(sets, key):
    with pytest.raises(ParamError) as error:
        external_sets(tiny_params(**{"evaluate.external": sets}))
    assert error.value.key == key and "\n" not in str(error.value)


def test_a_set_name_that_is_no_folder_name_is_refused():
    with pytest.raises(UserError, match="folder name"):
        external_sets(tiny_params(**{"evaluate.external": {"../up": {"source": "folder", "path": "."}}}))


def test_sets_are_read_with_their_regions():
    sets = external_sets(tiny_params(**{"evaluate.external": {"hands": {"source": "folder", "path": ".",
                                                                         "regions": "Hand"}}}))
    assert sets == {"hands": ExternalSet("hands", "folder", ".", ("hand",))}
    assert external_sets(tiny_params()) == {}, "none by default"


def test_an_outside_folder_is_screened_scored_and_measured_like_the_test_split(outside, tmp_path):
    out = tmp_path / "reports/external/outside"
    metrics = validate(_model(_metadata()), ExternalSet("outside", "folder", str(outside)), out, _settings())
    assert metrics == json.loads((out / "metrics.json").read_text())
    data = metrics["data"]
    assert data["filter"]["rejected"] == {"not_an_image": 1} and data["images"] == 24 and data["fractured"] == 12
    assert data["by_region"] == {"hand": {"abnormal": 6, "normal": 6}, "leg": {"abnormal": 6, "normal": 6}}
    image = metrics["image"]
    assert image["n"] == 24 and image["positives"] == 12 and image["ci"]["auc"]["low"] <= image["auc"]
    assert set(metrics["by_region"]) == {"hand", "leg"} and "study" not in metrics, "no studies of several views"
    assert metrics["localisation"]["annotated"]["images"] == 12, "every fractured film has a box"
    predictions = pd.read_csv(out / "predictions.csv")
    assert len(predictions) == 24 and set(predictions["split"]) == {"external"}
    assert predictions["cam_hit"].notna().sum() == 12
    assert pd.read_csv(out / "rejected.csv")["reason"].tolist() == ["not_an_image"]
    for curve in ("roc", "pr", "confusion", "calibration"):
        assert (out / "plots" / f"{curve}.csv").is_file()
    hands = validate(_model(_metadata()), ExternalSet("hands", "folder", str(outside), ("hand",)),
                     tmp_path / "hands", _settings())
    assert hands["data"]["images"] == 12 and list(hands["data"]["by_region"]) == ["hand"]
    with pytest.raises(UserError, match="external set wrists: it has no wrist images; its regions are hand, leg"):
        validate(_model(_metadata()), ExternalSet("wrists", "folder", str(outside), ("wrist",)),
                 tmp_path / "wrists", _settings())


def test_a_set_that_shares_an_image_with_the_training_data_is_refused_and_nothing_is_written(outside, tmp_path):
    shared = hashlib.sha256((outside / "images/05.png").read_bytes()).hexdigest()
    out = tmp_path / "out"
    validate(_model(_metadata()), ExternalSet("outside", "folder", str(outside)), out, _settings())
    earlier = {path: path.read_bytes() for path in out.rglob("*")  if path.is_file()}
    with pytest.raises(UserError, match=r"1 of its 24 images are identical \(sha256\).*images/05.png"):
        validate(_model(_metadata({"sha256": [shared]})), ExternalSet("outside", "folder", str(outside)), out,
                 _settings())
    assert {path: path.read_bytes() for path in out.rglob("*") if path.is_file()} == earlier


def test_validate_refuses_a_folder_of_the_users_files_and_deletes_nothing(outside, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params(**{"evaluate.bootstrap_resamples": 50})))
    save_checkpoint(tmp_path / "model.pt", build_model("simple_cnn", 2, width=4).state_dict(), _metadata())
    (tmp_path / "results").mkdir()
    (tmp_path / "results/thesis.docx").write_text("months of work")
    before = sorted(str(path) for path in tmp_path.rglob("*"))
    for out in ("results", "."):
        with pytest.raises(SystemExit) as exit_status:
            main(["validate", str(outside), "--model", "model.pt", "--out", out])
        error = capsys.readouterr().err.strip()
        assert exit_status.value.code == 1 and error.startswith("error: validate: ") and "\n" not in error
        assert "holds files this command did not write" in error and "give a new or empty folder" in error
    assert sorted(str(path) for path in tmp_path.rglob("*")) == before
    assert (tmp_path / "results/thesis.docx").read_text() == "months of work"
    for _ in range(2):  # into a folder of its own, again and again
        main(["validate", str(outside), "--model", "model.pt", "--out", "mine"])
    assert (tmp_path / "mine/metrics.json").is_file()


def test_the_command_line_says_what_is_wrong_in_one_line(outside, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for args, message in [(["no/such/folder"], "not found"), ([outside, "--source", "dicom"], "--source dicom"),
                          ([outside, "--name", "a/b"], "folder name"),
                          ([outside, "--params", "missing.yaml"], "missing.yaml not found")]:
        with pytest.raises(SystemExit) as exit_status:
            main(["validate", *map(str, args)])
        error = capsys.readouterr().err.strip()
        assert exit_status.value.code == 1 and error.startswith("error: ") and message in error, args
        assert "\n" not in error and "Traceback" not in error
