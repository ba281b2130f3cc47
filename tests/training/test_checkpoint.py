import pytest
import torch

from fracture.errors import UserError
from fracture.models import build_model
from fracture.training.checkpoint import load_checkpoint, save_checkpoint


def test_round_trip_restores_weights_and_metadata(tmp_path):
    model = build_model("simple_cnn", 2, width=4)
    metadata = {"arch": "simple_cnn", "width": 4, "classes": ["normal", "abnormal"], "threshold": 0.3}
    save_checkpoint(tmp_path / "model.pt", model.state_dict(), metadata)
    loaded, loaded_metadata = load_checkpoint(tmp_path / "model.pt")
    assert loaded_metadata == metadata and not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key])


def test_missing_or_foreign_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_checkpoint(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="not a checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
