import copy
import dataclasses

import pandas as pd
import pytest
import torch

import fracture
from fracture.__main__ import main
from fracture.core.errors import UserError
from fracture.imaging.filters import FilterStep
from fracture.imaging.preprocessing import Normalization, Preprocessing
from fracture.imaging.screening import QualityRules
from fracture.inference.checkpoint import CheckpointMetadata, Thresholds, load_checkpoint, save_checkpoint
from fracture.models.architectures import build_model
from fracture.training.config import train_config
from fracture.training.outcome import RunOutcome, run_metadata
from tests.conftest import radiograph_like, tiny_params, write_png


def test_round_trip_restores_weights_preprocessing_and_the_resolved_run(tmp_path):
    config = train_config(tiny_params(**{"model.width": 4}))
    preprocessing = Preprocessing(48, (FilterStep("median", {"kernel": 3}),), Normalization(0.3, 0.2))
    model = build_model("simple_cnn", 2, width=4)
    outcome = RunOutcome({}, Thresholds(0.3, 0.4, "youden"))
    manifest = pd.DataFrame({"split": ["train", "val", "test"], "sha256": ["b", "a", "c"]})
    metadata = run_metadata(config, ["normal", "abnormal"], preprocessing, outcome, 2, QualityRules(64, 2.0), manifest)
    save_checkpoint(tmp_path / "model.pt", model.state_dict(), metadata)
    loaded, loaded_metadata = load_checkpoint(tmp_path / "model.pt")
    assert loaded_metadata == metadata and not loaded.training
    assert loaded_metadata.preprocessing == preprocessing and loaded_metadata.thresholds.study == 0.4
    assert loaded_metadata.config == dataclasses.asdict(config), "every model and train param"
    assert loaded_metadata.config["augment"]["rotation"] == config.augment.rotation
    assert loaded_metadata.versions["torch"] == torch.__version__.split("+")[0]
    assert loaded_metadata.versions["fracture"] == fracture.__version__ and loaded_metadata.quality.min_size == 64
    assert loaded_metadata.trained_on == {"images": {"train": 1, "val": 1}, "sha256": ["a", "b"]}, "test not included"
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key])


def test_missing_foreign_or_old_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_checkpoint(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="not a checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"state_dict": {}, "metadata": {"arch": "simple_cnn", "threshold": 0.5}}, tmp_path / "old.pt")
    with pytest.raises(UserError, match="retrain"):
        load_checkpoint(tmp_path / "old.pt")


def _saved(tmp_path) -> dict:
    preprocessing = Preprocessing(32, (FilterStep("clahe", {"clip_limit": 2.0, "tile_grid": 4}),),
                                  Normalization(0.4, 0.25))
    metadata = CheckpointMetadata("simple_cnn", 4, "fracture", ["normal", "abnormal"], preprocessing,
                                  Thresholds(0.5, None, "youden"), 1, versions={"fracture": "0.1.9", "torch": "2.3.0"})
    save_checkpoint(tmp_path / "good.pt", build_model("simple_cnn", 2, width=4).state_dict(), metadata)
    return torch.load(tmp_path / "good.pt", weights_only=True)


@pytest.mark.parametrize("change, field", [
    (lambda m: m["preprocessing"]["filters"][0]["options"].update(clip=2.0), "preprocessing.filters[0].options"),
    (lambda m: m["preprocessing"]["filters"][0].update(name="unsharp"), "preprocessing.filters[0].name"),
    (lambda m: m.update(arch="resnet9000"), "arch"),
    (lambda m: m["preprocessing"].update(normalization=None), "preprocessing.normalization"),
    (lambda m: m["preprocessing"].pop("image_size"), "preprocessing.image_size"),
    (lambda m: m["preprocessing"].update(fit="crop"), "preprocessing.fit"),
    (lambda m: m.update(colour_space="rgb"), "metadata.colour_space"),
    (lambda m: m["thresholds"].update(image="0.5"), "thresholds.image"),
    (lambda m: m.update(classes="normal"), "classes"),
    (lambda m: m.update(quality={"min_size": "64", "min_std": 2.0}), "quality.min_size"),
    (lambda m: m.update(tta="vflip"), "tta"),
    (lambda m: m.update(trained_on={"sha256": "abc"}), "trained_on.sha256"),
    # bounds: what a planted file could ask for that would exhaust memory or time, or that a filter cannot do
    (lambda m: m["preprocessing"].update(image_size=1_000_000), "preprocessing.image_size"),
    (lambda m: m["preprocessing"].update(image_size=10 ** 400), "preprocessing.image_size"),
    (lambda m: m["preprocessing"]["filters"][0].update(name="median", options={"kernel": 4}),
     "preprocessing.filters[0].options.kernel"),
    (lambda m: m["preprocessing"]["filters"][0]["options"].update(tile_grid=4096), "preprocessing.filters[0].options"
                                                                                   ".tile_grid"),
    (lambda m: m["preprocessing"]["filters"][0]["options"].update(clip_limit=10 ** 400),
     "preprocessing.filters[0].options.clip_limit"),
    (lambda m: m["preprocessing"]["filters"][0].update(name=["clahe"]), "preprocessing.filters[0].name"),
    (lambda m: m["preprocessing"].update(filters=m["preprocessing"]["filters"] * 100_000), "preprocessing.filters"),
    (lambda m: m["preprocessing"]["normalization"].update(std=0.0), "preprocessing.normalization.std"),
    (lambda m: m["preprocessing"]["normalization"].update(mean=float("nan")), "preprocessing.normalization.mean"),
    (lambda m: m["thresholds"].update(image=1.5), "thresholds.image"),
    (lambda m: m["thresholds"].update(study=-0.1), "thresholds.study"),
    (lambda m: m.update(classes=["normal", "abnormal", "other"]), "classes"),
    (lambda m: m.update(classes=["normal", "normal"]), "classes"),
    (lambda m: m.update(classes=["normal", "ab\nnormal"]), "classes"),
    (lambda m: m.update(width=1_000_000), "width"),
    (lambda m: m.update(quality={"min_size": 64, "min_std": -1.0}), "quality.min_std"),
    (lambda m: m.update(versions=["fracture"]), "versions"),
    (lambda m: m.update(trained_on={"sha256": [["a"]]}), "trained_on.sha256"),
    (lambda m: m.update({7: "a key that is no name"}), "metadata.7"),
    (lambda m: m.update(head={"kind": "dense", "pooling": "lse", "fusion": "mean"}), "head.kind"),
    (lambda m: m.update(head={"kind": "map", "pooling": "lse"}), "head.fusion"),
    (lambda m: m.update(head="map"), "head"),
    (lambda m: m.update(head={"kind": "map", "pooling": "lse", "fusion": "mean", "stride": 16}), "head.stride"),
    (lambda m: m.update(head={"kind": "map", "pooling": "lse", "fusion": "mean", "stride": 8.0}), "head.stride"),
    (lambda m: m.update(head={"kind": "map", "pooling": "lse", "fusion": "mean", "box": "fcos"}), "head.box"),
    (lambda m: m.update(temperature=0.0), "temperature"),
    (lambda m: m.update(temperature=float("inf")), "temperature"),
    (lambda m: m.update(calibration_bias=99.0), "calibration_bias"),
    (lambda m: m.update(calibration_bias="-1"), "calibration_bias"),
])
def test_metadata_that_no_longer_fits_names_the_file_the_field_and_the_version_that_wrote_it(tmp_path, change, field):
    saved = copy.deepcopy(_saved(tmp_path))
    change(saved["metadata"])
    torch.save(saved, tmp_path / "old.pt")
    with pytest.raises(UserError) as error:
        load_checkpoint(tmp_path / "old.pt")
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'old.pt'}: {field} ") and "\n" not in message and len(message) < 400
    assert "written by fracture 0.1.9" in message or field == "versions"


def test_a_checkpoint_from_before_versions_were_kept_says_so_and_weights_that_do_not_fit_are_one_line(tmp_path):
    saved = copy.deepcopy(_saved(tmp_path))
    saved["metadata"]["versions"] = {}
    saved["state_dict"].pop(next(iter(saved["state_dict"])))
    torch.save(saved, tmp_path / "old.pt")
    with pytest.raises(UserError, match=r"the weights do not fit simple_cnn .*before 0\.2\.0"):
        load_checkpoint(tmp_path / "old.pt")


def test_a_checkpoint_of_a_newer_release_is_one_line_and_other_library_versions_a_warning(tmp_path, caplog):
    saved = copy.deepcopy(_saved(tmp_path))
    saved["metadata"]["versions"] = {"fracture": "99.0.0"}
    torch.save(saved, tmp_path / "newer.pt")
    with pytest.raises(UserError, match=r"newer.pt was written by fracture 99.0.0, newer than this"):
        load_checkpoint(tmp_path / "newer.pt")
    saved["metadata"]["versions"] = {"fracture": fracture.__version__, "torch": "1.0.0"}
    torch.save(saved, tmp_path / "older_torch.pt")
    with caplog.at_level("WARNING"):
        load_checkpoint(tmp_path / "older_torch.pt")
    assert "torch 1.0.0 (installed: " in caplog.text and "last digits" in caplog.text


@pytest.mark.parametrize("change, expected", [
    (lambda m: m["preprocessing"].update(image_size=1_000_000),
     "preprocessing.image_size = 1000000 is not an integer from 32 to 1024"),
    (lambda m: m["preprocessing"]["filters"][0].update(name="median", options={"kernel": 4}),
     "preprocessing.filters[0].options.kernel = 4 is not an odd integer from 3 to 255"),
    (lambda m: m["thresholds"].update(image=1.5),
     "thresholds.image = 1.5 is not a probability (a finite number from 0.0 to 1.0)"),
])
def test_predict_with_a_checkpoint_out_of_bounds_is_one_line_naming_the_field(tmp_path, capsys, change, expected):
    saved = copy.deepcopy(_saved(tmp_path))
    change(saved["metadata"])
    torch.save(saved, tmp_path / "planted.pt")
    write_png(tmp_path / "film.png", radiograph_like(0))
    with pytest.raises(SystemExit) as exit_code:
        main(["predict", "--model", str(tmp_path / "planted.pt"), "--out", str(tmp_path / "out.csv"),
              "--device", "cpu", str(tmp_path / "film.png")])
    stderr = capsys.readouterr().err
    assert exit_code.value.code == 1 and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith(f"error: {tmp_path / 'planted.pt'}: {expected}; it was written "
                                                      f"by fracture 0.1.9 with torch 2.3.0")
    assert not (tmp_path / "out.csv").exists()
