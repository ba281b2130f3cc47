"""Stage scripts stop on bad params or missing inputs with one line, and write nothing.

Each stage runs in this process (`run_stage_here`), as its script's `run_stage` runs it; one test runs real
stage processes, so the line a user sees from `python -m stages.<name>` is checked too.
"""

import pandas as pd
import pytest
import torch

from tests.conftest import png_bytes, radiograph_like, run_stage, run_stage_here, tiny_params, zip_bytes


def _assert_one_line_error(result, *fragments):
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr  # progress and logs may come before
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in errors[0]


@pytest.mark.parametrize("stage, overrides, fragments", [
    ("download", {"data.source": "pacs"}, ["data.source = 'pacs'", "synthetic, mura"]),
    ("download", {"data.source": "mura"}, ["data.path", "needs data.path"]),
    ("enhance", {"enhance.filters": ["clahe", "gaussian"]},
     ["enhance.filters = 'gaussian'", "none, clahe, bilateral, median"]),
    ("train", {"model.arch": "resnet19"},
     ["model.arch = 'resnet19'", "simple_cnn, resnet18, resnet50, vgg16, densenet121, efficientnet_b0"]),
    ("train", {"train.epochs": -1}, ["train.epochs = -1", "integer >= 1"]),
    ("train", {"model.arch": "timm/no_such_net"}, ["model.arch = 'timm/no_such_net'", "timm.list_models()"]),
    ("train", {"model.head": "dense"}, ["model.head = 'dense'", "global, map"]),
    ("train", {"model.map_pooling": "mean"}, ["model.map_pooling = 'mean'", "lse, max"]),
    ("train", {"model.map_fusion": "sum"}, ["model.map_fusion = 'sum'", "mean, map"]),
    ("train", {"model.map_stride": 16}, ["model.map_stride = 16", "8, 4"]),
    ("train", {"model.map_stride": "4"}, ["model.map_stride = '4'", "an integer"]),
    ("train", {"model.map_box": "fcos"}, ["model.map_box = 'fcos'", "extent, regressed"]),
    ("train", {"model.map_box": "regressed"}, ["model.map_box = 'regressed'", "set model.head: map"]),
    ("train", {"model.head": "map", "model.task": "region"}, ["model.head = 'map'", "global with model.task: region"]),
    ("train", {"train.map_loss_weight": -1}, ["train.map_loss_weight = -1", "from 0.0 to 100.0"]),
    ("train", {"train.crop": 96}, ["train.crop = 96", "0 with model.head: global"]),
    ("train", {"model.head": "map", "train.crop": 48},
     ["train.crop = 48", "from 32 to 47 pixels", "enhance.image_size (48)"]),
    ("train", {"train.calibration": "isotonic"}, ["train.calibration = 'isotonic'", "none, temperature, platt"]),
    ("train", {"train.calibration": "platt", "model.task": "region"},
     ["train.calibration = 'platt'", "none or temperature with model.task: region"]),
    ("split", {"split.val_fraction": 0.6, "split.test_fraction": 0.5}, ["val_fraction + split.test_fraction"]),
])
def test_bad_params_stop_the_stage_with_one_line(tmp_path, stage, overrides, fragments):
    _assert_one_line_error(run_stage_here(stage, tmp_path, tiny_params(**overrides)), *fragments)
    assert not (tmp_path / "data").exists() and not (tmp_path / "models").exists()


def test_a_region_without_images_names_the_regions_present(tmp_path):
    raw = tmp_path / "data/raw"
    raw.mkdir(parents=True)
    pd.DataFrame([{"image_id": "a", "path": "a.png", "patient_id": "p", "study_id": "s", "region": "wrist",
                   "label": 1, "view": "", "source": "t", "source_split": "", "sha256": "0",
                   "grouping": "patient"}]).to_csv(
        raw / "manifest.csv", index=False)
    result = run_stage_here("filter", tmp_path, tiny_params(**{"filter.regions": ["elbow"]}))
    _assert_one_line_error(result, "filter.regions = 'elbow'", "choose from: all, wrist")


@pytest.mark.e2e
def test_missing_inputs_say_which_stage_to_run(tmp_path):
    _assert_one_line_error(run_stage("filter", tmp_path, tiny_params()), "data/raw/manifest.csv not found", "dvc repro")
    _assert_one_line_error(run_stage("evaluate", tmp_path, tiny_params()), "models/model.pt not found")
    _assert_one_line_error(run_stage("report", tmp_path, tiny_params()), "not found", "dvc repro")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_cuda_without_a_gpu_is_a_user_error(tmp_path):
    _assert_one_line_error(run_stage_here("train", tmp_path, tiny_params(**{"train.device": "cuda"})), "no CUDA GPU")


def _closed_port_url(name):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/{name}"


def test_offline_download_names_the_url_and_data_path(tmp_path):
    url = _closed_port_url("MURA-v1.1.zip")
    result = run_stage_here("download", tmp_path, tiny_params(**{"data.source": "mura", "data.url": url,
                                                                  "data.retries": 1}))
    _assert_one_line_error(result, url, "data.path")
    assert not (tmp_path / "data/raw").exists()


def test_a_malicious_archive_is_refused_and_nothing_is_written(tmp_path, file_server):
    file_server.files["/evil.zip"] = zip_bytes({"MURA-v1.1/train/XR_WRIST/patient1/study1_positive/image1.png": b"x",
                                                "../../outside.png": b"x"})
    params = tiny_params(**{"data.source": "mura", "data.url": f"{file_server.url}/evil.zip"})
    _assert_one_line_error(run_stage_here("download", tmp_path, params), "refusing entry '../../outside.png'")
    assert not (tmp_path / "data/raw").exists() and not (tmp_path.parent / "outside.png").exists()


def test_mura_from_a_url(tmp_path, file_server):
    entries = {f"MURA-v1.1/{split}/XR_WRIST/patient{p:05d}/study1_{'positive' if p % 2 else 'negative'}/image1.png":
               png_bytes(radiograph_like(p)) for split, p in [("train", 1), ("train", 2), ("valid", 3)]}
    file_server.files["/MURA-v1.1.zip"] = zip_bytes(entries)
    params = tiny_params(**{"data.source": "mura", "data.url": f"{file_server.url}/MURA-v1.1.zip"})
    result = run_stage_here("download", tmp_path, params)
    assert result.returncode == 0, result.stderr
    manifest = pd.read_csv(tmp_path / "data/raw/manifest.csv")
    assert sorted(manifest["source_split"]) == ["train", "train", "valid"]
    assert (tmp_path / "data/downloads").is_dir(), "the archive stays cached for the next run"
