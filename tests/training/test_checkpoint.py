import dataclasses

import pytest
import torch

from fracture.errors import UserError
from fracture.imaging.filters import FilterStep
from fracture.models import build_model
from fracture.preprocessing import Normalization, Preprocessing
from fracture.training.checkpoint import (
    CheckpointMetadata,
    Thresholds,
    load_checkpoint,
    resume_fingerprint,
    save_checkpoint,
)
from fracture.training.config import train_config
from tests.conftest import tiny_params


def test_round_trip_restores_weights_preprocessing_and_the_resolved_run(tmp_path):
    config = train_config(tiny_params(**{"model.width": 4}))
    preprocessing = Preprocessing(48, (FilterStep("median", {"kernel": 3}),), Normalization(0.3, 0.2))
    model = build_model("simple_cnn", 2, width=4)
    metadata = CheckpointMetadata.of_run(config, ["normal", "abnormal"], preprocessing, Thresholds(0.3, 0.4, "youden"),
                                         best_epoch=2)
    save_checkpoint(tmp_path / "model.pt", model.state_dict(), metadata)
    loaded, loaded_metadata = load_checkpoint(tmp_path / "model.pt")
    assert loaded_metadata == metadata and not loaded.training
    assert loaded_metadata.preprocessing == preprocessing and loaded_metadata.thresholds.study == 0.4
    assert loaded_metadata.config == dataclasses.asdict(config), "every model and train param"
    assert loaded_metadata.config["augment"]["rotation"] == config.augment.rotation
    assert loaded_metadata.versions["torch"] == torch.__version__.split("+")[0]
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


def test_a_run_keeps_its_resume_fingerprint_when_only_its_epoch_budget_changes(tmp_path):
    for name in ("manifest.csv", "preprocessing.json"):
        (tmp_path / name).write_text(name)
    params = tiny_params(**{"train.epochs": 10})
    fingerprint = resume_fingerprint(params, tmp_path)
    assert resume_fingerprint(tiny_params(**{"train.epochs": 4}), tmp_path) == fingerprint
    assert resume_fingerprint(tiny_params(**{"train.epochs": 10, "train.lr": 0.5}), tmp_path) != fingerprint
    (tmp_path / "manifest.csv").write_text("other data")
    assert resume_fingerprint(params, tmp_path) != fingerprint
