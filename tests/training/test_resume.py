"""Resume files that cannot be used: a planted file never runs its code, and a damaged or foreign one is a warning
naming it, after which training starts afresh from the state it had."""

import logging
import pathlib
import pickle
import shutil

import pytest
import torch

from fracture.imaging.preprocessing import Normalization
from fracture.inference.presets import ModelInput
from fracture.models.architectures import build_model
from fracture.training.ema import WeightAverage
from fracture.training.loop import EpochHooks, Splits, fit, make_optimizer
from fracture.training.resume import Ranks, Resume, TrainingState
from tests.conftest import run_stage, run_stage_here, tiny_params
from tests.training.test_loop import _bright_square_task, _config

CPU = torch.device("cpu")


class _Planted:
    """Unpickling this touches `marker`: what a planted resume file could do with any code."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def _state(config) -> TrainingState:
    model = build_model("simple_cnn", 2, width=4)
    optimizer = make_optimizer(model, config)
    return TrainingState(model, optimizer, torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer),
                         torch.amp.GradScaler("cpu", enabled=False), torch.Generator().manual_seed(1),
                         torch.Generator().manual_seed(2), WeightAverage(model, config.ema) if config.ema else None)


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A genuine resume file after one epoch (with a moving average of the weights), and its config."""
    path = tmp_path_factory.mktemp("resume") / "train.pt"
    config = _config(epochs=1, ema=0.9)
    train, val = _bright_square_task(32, 1), _bright_square_task(16, 2)
    inputs = ModelInput(Normalization.of(train.images), CPU)
    fit(build_model("simple_cnn", 2, width=4), Splits(train, val, 2), inputs, config,
        EpochHooks(resume=Resume(path, "run")))
    return path, config


def _same_state(state: TrainingState, before: dict) -> bool:
    now = state.snapshot(CPU)
    tensors = [(now["model"][key], value) for key, value in before["model"].items()]
    tensors += [(now["rng"][0][key], before["rng"][0][key]) for key in ("shuffle", "augmentation", "torch")]
    return all(torch.equal(a, b) for a, b in tensors) and now["optimizer"] == before["optimizer"]


def test_the_pipelines_own_resume_file_loads_without_running_code(saved_run):
    path, config = saved_run
    assert Resume(path, "run").load(_state(config), 1, CPU, Ranks()) is not None
    torch.load(path, weights_only=True)  # tensors, numbers, strings, lists and dicts only


def _planted(path, marker):
    torch.save({"fingerprint": "run", "model": _Planted(marker)}, path)


def _raw_pickle(path, marker):
    path.write_bytes(pickle.dumps({"fingerprint": "run", "epoch": _Planted(marker)}))


@pytest.mark.parametrize("write, why", [
    (lambda path, marker: path.write_bytes(b""), "it is empty"),
    (lambda path, marker: path.write_bytes(path.with_name("genuine.pt").read_bytes()[:2000]),
     "not a complete PyTorch file"),
    (lambda path, marker: path.write_text("weights: none\n"), "not a file of tensors and numbers"),
    (lambda path, marker: torch.save({"weights": torch.zeros(3)}, path), "not a resume file (no best, "),
    (lambda path, marker: torch.save([1, 2, 3], path), "holds a list"),
    (_planted, "could run code when loaded, so it was not loaded"),
    (_raw_pickle, "so it was not loaded"),
], ids=["empty", "truncated", "text", "foreign-dict", "list", "planted-torch-save", "planted-pickle"])
def test_a_resume_file_that_cannot_be_used_is_a_warning_and_a_fresh_start(saved_run, tmp_path, caplog, write, why):
    genuine, config = saved_run
    shutil.copy(genuine, tmp_path / "genuine.pt")
    path, marker = tmp_path / "train.pt", tmp_path / "code-ran"
    write(path, marker)
    state = _state(config)
    before = state.snapshot(CPU)
    with caplog.at_level(logging.WARNING, logger="fracture.training.resume"):
        assert Resume(path, "run").load(state, 1, CPU, Ranks()) is None
    assert not marker.exists(), "nothing in the file ran"
    [warning] = [record.getMessage() for record in caplog.records]
    assert f"cannot resume from {path}: " in warning and why in warning and "training starts afresh" in warning
    assert _same_state(state, before)


def _edit(saved: dict, change) -> dict:
    change(saved)
    return saved


@pytest.mark.parametrize("change, why", [
    (lambda saved: saved["model"].update(
        {key: torch.zeros(1) for key in list(saved["model"])[:1]}), "size mismatch"),
    (lambda saved: saved.pop("average"), "'average'"),
    (lambda saved: next(iter(saved["optimizer"]["state"].values())).update(exp_avg=torch.zeros(2, 2)),
     "optimizer state for weight 0 has shape (2, 2)"),
    (lambda saved: saved["scheduler"].update(best="high"), "scheduler state holds a str for 'best'"),
    (lambda saved: saved["history"][0].update(colour=1.0), "unexpected keyword argument 'colour'"),
    (lambda saved: saved["history"][0].update(val_auc="0.9"), "history holds values that are not numbers"),
    (lambda saved: saved["rng"][0].update(torch=torch.zeros(3)), "RNG state"),
    (lambda saved: saved.update(best_state={}), "best weights state does not have this run's keys"),
], ids=["weight-shape", "no-average", "momentum-shape", "scheduler-value", "history-key", "history-value",
        "random-state", "best-weights"])
def test_a_file_of_this_run_whose_contents_do_not_fit_leaves_the_state_as_it_was(saved_run, tmp_path, caplog,
                                                                                 change, why):
    genuine, config = saved_run
    path = tmp_path / "train.pt"
    torch.save(_edit(torch.load(genuine, weights_only=True), change), path)
    state = _state(config)
    before = state.snapshot(CPU)
    with caplog.at_level(logging.WARNING, logger="fracture.training.resume"):
        assert Resume(path, "run").load(state, 1, CPU, Ranks()) is None
    [warning] = [record.getMessage() for record in caplog.records]
    assert f"cannot resume from {path}: its contents do not fit this run" in warning and why in warning
    assert _same_state(state, before), "a file that failed part way left nothing of itself behind"


@pytest.mark.e2e
def test_the_train_stage_never_runs_a_planted_resume_file(tmp_path):
    """Through the real stage: the file's code would create a marker; it does not, and training runs afresh."""
    params = tiny_params(**{"train.epochs": 1})
    for stage in ("download", "filter", "split", "enhance"):
        assert run_stage_here(stage, tmp_path, params).returncode == 0
    marker, planted = tmp_path / "code-ran", tmp_path / "models/resume/train.pt"
    planted.parent.mkdir(parents=True)
    _planted(planted, marker)
    evidence = shutil.copy(planted, tmp_path / "planted.pt")
    result = run_stage("train", tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert not marker.exists(), "the planted code did not run"
    assert "cannot resume from models/resume/train.pt" in result.stderr and "could run code" in result.stderr
    assert "epoch 1:" in result.stderr and (tmp_path / "models/model.pt").is_file(), "training ran afresh"
    torch.load(evidence, weights_only=False)  # the file was live: loaded the old way, its code runs
    assert marker.exists()
