"""`python -m fracture predict` with a saved model on files, DICOM, folders and a labels.csv."""

import subprocess
import sys

import numpy as np
import pandas as pd

from fracture.imaging.filters import FilterStep
from fracture.models import build_model
from fracture.preprocessing import Normalization, Preprocessing
from fracture.training.checkpoint import CheckpointMetadata, Thresholds, save_checkpoint
from tests.conftest import radiograph_like, stage_env, write_dicom, write_png


def _model(path, task="fracture"):
    classes = ["normal", "abnormal"] if task == "fracture" else ["hand", "wrist"]
    preprocessing = Preprocessing(32, (FilterStep("clahe", {"clip_limit": 2.0, "tile_grid": 4}),),
                                  Normalization(0.4, 0.25))
    thresholds = Thresholds(0.5, None, "youden") if task == "fracture" else Thresholds()
    save_checkpoint(path, build_model("simple_cnn", len(classes), width=4).state_dict(),
                    CheckpointMetadata("simple_cnn", 4, task, classes, preprocessing, thresholds, best_epoch=1))
    return path


def _predict(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "fracture", "predict", *map(str, args)], cwd=tmp_path,
                          env=stage_env(), capture_output=True, text=True, timeout=300)


def test_files_folders_dicom_labels_csv_and_bad_files(tmp_path):
    model = _model(tmp_path / "model.pt")
    write_png(tmp_path / "folder/a.png", radiograph_like(0))
    write_png(tmp_path / "folder/deeper/b.jpg", radiograph_like(1))
    dicom = write_dicom(tmp_path / "c.dcm", radiograph_like(2).astype(np.uint16) * 16, photometric="MONOCHROME1")
    (tmp_path / "broken.png").write_text("not an image")
    write_png(tmp_path / "listed/d.png", radiograph_like(3))
    (tmp_path / "listed/labels.csv").write_text("path,label\nd.png,abnormal\nmissing.png,0\n")
    result = _predict(tmp_path, "--model", model, "--out", "out.csv", "--cam", "cams",
                      "folder", dicom, "broken.png", "listed/labels.csv")
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert len(table) == 6 and list(table.columns) == ["path", "probability", "prediction", "label", "error"]
    errors = dict(zip(table["path"].map(lambda p: p.split("/")[-1]), table["error"]))
    assert errors == {"a.png": "", "b.jpg": "", "c.dcm": "", "broken.png": "not_an_image", "d.png": "",
                      "missing.png": "missing_file"}
    scored = table[table["error"] == ""]
    assert scored["probability"].astype(float).between(0, 1).all() and set(scored["prediction"]) <= {"0", "1"}
    assert table.set_index(table["path"].map(lambda p: p.split("/")[-1])).loc["d.png", "label"] == "1"
    assert len(list((tmp_path / "cams").glob("*.png"))) == 4
    assert "4 images scored, 2 unreadable" in result.stderr


def test_region_models_name_the_region(tmp_path):
    model = _model(tmp_path / "model.pt", task="region")
    write_png(tmp_path / "x.png", radiograph_like(0))
    assert _predict(tmp_path, "--model", model, "--out", "out.csv", "x.png").returncode == 0
    assert pd.read_csv(tmp_path / "out.csv")["prediction"].iloc[0] in ("hand", "wrist")


def test_a_missing_model_or_no_images_is_one_line(tmp_path):
    result = _predict(tmp_path, "--model", "none.pt", "--out", "out.csv", "x.png")
    assert result.returncode == 1 and result.stderr.strip().startswith("error: none.pt not found")
    (tmp_path / "empty").mkdir()
    result = _predict(tmp_path, "--model", _model(tmp_path / "m.pt"), "--out", "out.csv", "empty")
    assert result.returncode == 1 and "no images found" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out.csv").exists()
