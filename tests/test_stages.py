"""Stage scripts stop on bad params or missing inputs with one line, and write nothing."""

import pandas as pd
import pytest
import torch

from tests.conftest import run_stage, tiny_params


def _assert_one_line_error(result, *fragments):
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize("stage, overrides, fragments", [
    ("download", {"data.source": "pacs"}, ["data.source = 'pacs'", "synthetic, mura"]),
    ("download", {"data.source": "mura"}, ["data.path", "needs data.path"]),
    ("enhance", {"enhance.filters": ["clahe", "gaussian"]}, ["enhance.filters = 'gaussian'", "none, clahe, bilateral, median"]),
    ("train", {"model.arch": "resnet19"}, ["model.arch = 'resnet19'", "simple_cnn, resnet18, resnet50, vgg16, densenet121, efficientnet_b0"]),
    ("train", {"train.epochs": -1}, ["train.epochs = -1", "integer >= 1"]),
    ("split", {"split.val_fraction": 0.6, "split.test_fraction": 0.5}, ["val_fraction + split.test_fraction"]),
])
def test_bad_params_stop_the_stage_with_one_line(tmp_path, stage, overrides, fragments):
    _assert_one_line_error(run_stage(stage, tmp_path, tiny_params(**overrides)), *fragments)
    assert not (tmp_path / "data").exists() and not (tmp_path / "models").exists()


def test_a_region_without_images_names_the_regions_present(tmp_path):
    raw = tmp_path / "data/raw"
    raw.mkdir(parents=True)
    pd.DataFrame([{"image_id": "a", "path": "a.png", "patient_id": "p", "study_id": "s", "region": "wrist",
                   "label": 1, "view": "", "source": "t", "source_split": "", "sha256": "0"}]).to_csv(
        raw / "manifest.csv", index=False)
    result = run_stage("filter", tmp_path, tiny_params(**{"filter.regions": ["elbow"]}))
    _assert_one_line_error(result, "filter.regions = 'elbow'", "choose from: all, wrist")


def test_missing_inputs_say_which_stage_to_run(tmp_path):
    _assert_one_line_error(run_stage("filter", tmp_path, tiny_params()), "data/raw/manifest.csv not found", "dvc repro")
    _assert_one_line_error(run_stage("evaluate", tmp_path, tiny_params()), "models/model.pt not found")
    _assert_one_line_error(run_stage("report", tmp_path, tiny_params()), "not found", "dvc repro")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_cuda_without_a_gpu_is_a_user_error(tmp_path):
    _assert_one_line_error(run_stage("train", tmp_path, tiny_params(**{"train.device": "cuda"})), "no CUDA GPU")
