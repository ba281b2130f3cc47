"""The train stage as a user runs it: interrupted and resumed, data-parallel on the CPU and across two
"machines", and failing to learn."""

import json
import shutil
import signal
import socket
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

from fracture.evaluation.metrics import COLLAPSED_SPREAD
from tests.conftest import run_stage, stage_env, tiny_params

pytestmark = pytest.mark.e2e

PREPARE = ("download", "filter", "split", "enhance")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A folder with tiny processed data, ready for the train stage."""
    root = tmp_path_factory.mktemp("train-stage")
    for stage in PREPARE:
        assert run_stage(stage, root, tiny_params()).returncode == 0
    return root


def _epochs_logged(root):
    return len(pd.read_csv(root / "reports/train/plots/metrics/train/loss.tsv", sep="\t"))


EPOCHS = 40


def _default_sigint() -> None:
    """Background jobs ignore SIGINT and children inherit that; a user's terminal does not."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_a_stopped_train_stage_resumes_from_its_last_epoch(prepared):
    params = tiny_params(**{"train.epochs": EPOCHS, "train.early_stopping.patience": EPOCHS})
    (prepared / "params.yaml").write_text(yaml.safe_dump(params))
    process = subprocess.Popen([sys.executable, "-m", "stages.train"], cwd=prepared, env=stage_env(),
                               stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
    resume = prepared / "models/resume/train.pt"
    deadline = time.time() + 120
    while not resume.exists() and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr
    assert resume.exists() and not (prepared / "models/model.pt").exists()
    result = run_stage("train", prepared)
    assert result.returncode == 0, result.stderr
    assert "resuming after epoch" in result.stderr
    assert _epochs_logged(prepared) == EPOCHS and not resume.exists()


def test_two_data_parallel_processes_on_the_cpu(prepared):
    params = tiny_params(**{"train.gpus": 2, "train.device": "cpu", "train.epochs": 2})
    result = run_stage("train", prepared, params)
    assert result.returncode == 0, result.stderr
    assert "x 2" in result.stderr, "both processes joined the group"
    assert result.stderr.count("epoch 1:") == 1, "only rank 0 logs"
    assert _epochs_logged(prepared) == 2 and (prepared / "models/model.pt").exists()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_machines_train_as_one_job_through_torchrun_rendezvous(prepared, tmp_path):
    """Two 'machines' (folders with their own copy of the data), one CPU process each, meet on 127.0.0.1."""
    (prepared / "params.yaml").write_text(yaml.safe_dump(tiny_params(**{"train.device": "cpu", "train.epochs": 2})))
    (prepared / "models/model.pt").unlink(missing_ok=True)
    second = tmp_path / "second-machine"
    shutil.copytree(prepared / "data/processed", second / "data/processed")
    shutil.copy(prepared / "params.yaml", second / "params.yaml")
    job = {"PET_NNODES": "2", "PET_RDZV_ENDPOINT": f"127.0.0.1:{_free_port()}"}
    machines = [subprocess.Popen([sys.executable, "-m", "stages.train"], cwd=folder, stderr=subprocess.PIPE, text=True,
                                 env={**stage_env(), **job, "PET_NODE_RANK": str(rank)})
                for rank, folder in enumerate([prepared, second])]
    logs = [machine.communicate(timeout=300)[1] for machine in machines]
    assert [machine.returncode for machine in machines] == [0, 0], logs
    assert "on cpu x 2" in logs[0], "both machines joined one process group"
    assert "epoch 2:" in logs[0] and "epoch 1:" not in logs[1], "rank 0, on node 0, alone logs"
    assert (prepared / "models/model.pt").exists() and not (second / "models").exists(), "and alone writes"


def test_a_model_that_did_not_learn_is_flagged(prepared):
    result = run_stage("train", prepared, tiny_params(**{"train.lr": 10.0}))
    assert result.returncode == 0, result.stderr
    assert "simple_cnn did not learn" in result.stderr and "lower train.lr" in result.stderr
    last_epoch = [line for line in result.stderr.splitlines() if "epoch" in line and "val output spread" in line][-1]
    assert float(last_epoch.rsplit(" ", 1)[1]) < COLLAPSED_SPREAD, "the epoch log shows the collapse as it happens"
    summary = json.loads((prepared / "reports/train/metrics.json").read_text())
    assert summary["val_output_spread"] < COLLAPSED_SPREAD


def test_a_model_that_learned_is_not_flagged(prepared):
    result = run_stage("train", prepared, tiny_params(**{"train.epochs": 4}))
    assert result.returncode == 0, result.stderr
    assert "did not learn" not in result.stderr
    assert json.loads((prepared / "reports/train/metrics.json").read_text())["val_output_spread"] >= COLLAPSED_SPREAD
