"""`python -m fracture predict` with a saved model on files, DICOM, folders and a labels.csv."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fracture.__main__ import main
from fracture.imaging.filters import FilterStep
from fracture.imaging.preprocessing import Normalization, Preprocessing
from fracture.imaging.screening import QualityRules
from fracture.inference.checkpoint import CheckpointMetadata, Thresholds, save_checkpoint
from fracture.models.architectures import build_model
from tests.conftest import in_process, radiograph_like, stage_env, write_dicom, write_png


def _model(path, task="fracture"):
    classes = ["normal", "abnormal"] if task == "fracture" else ["hand", "wrist"]
    preprocessing = Preprocessing(32, (FilterStep("clahe", {"clip_limit": 2.0, "tile_grid": 4}),),
                                  Normalization(0.4, 0.25))
    thresholds = Thresholds(0.5, None, "youden") if task == "fracture" else Thresholds()
    save_checkpoint(path, build_model("simple_cnn", len(classes), width=4).state_dict(),
                    CheckpointMetadata("simple_cnn", 4, task, classes, preprocessing, thresholds, best_epoch=1,
                                       quality=QualityRules(min_size=64, min_std=2.0)))
    return path


def _predict(tmp_path, *args):
    """`python -m fracture predict` from `tmp_path`, run in this process (its exit status, stdout and stderr)."""
    return in_process(lambda: main(["predict", *map(str, args)]), tmp_path)


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
    assert len(table) == 6 and list(table.columns) == ["path", "probability", "prediction", "label", "boxes",
                                                       "error", "detail"]
    assert (table["boxes"] == "").all(), "a global head finds no boxes"
    errors = dict(zip(table["path"].map(lambda p: p.split("/")[-1]), table["error"]))
    assert errors == {"a.png": "", "b.jpg": "", "c.dcm": "", "broken.png": "not_an_image", "d.png": "",
                      "missing.png": "missing_file"}
    scored = table[table["error"] == ""]
    assert scored["probability"].astype(float).between(0, 1).all() and set(scored["prediction"]) <= {"0", "1"}
    assert table.set_index(table["path"].map(lambda p: p.split("/")[-1])).loc["d.png", "label"] == "1"
    assert len(list((tmp_path / "cams").glob("*.png"))) == 4
    assert "4 images scored, 2 not scored" in result.stderr


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


def _table(tmp_path, name="out.csv"):
    table = pd.read_csv(tmp_path / name, dtype=str, keep_default_na=False)
    return dict(zip(table["path"].map(lambda p: p.split("/")[-1]), table["error"]))


def test_links_out_of_a_folder_or_a_labels_csv_are_never_read_nor_drawn(tmp_path):
    model = _model(tmp_path / "model.pt")
    secret = write_png(tmp_path / "elsewhere/secret.png", radiograph_like(9))
    write_png(tmp_path / "films/in.png", radiograph_like(0))
    (tmp_path / "films/secret.png").symlink_to(secret)
    (tmp_path / "films/passwd.png").symlink_to("/etc/passwd")
    (tmp_path / "films/away").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "films/again.png").symlink_to("in.png")  # stays inside: followed
    (tmp_path / "films/labels.csv").write_text(f"path,label\nin.png,1\n../elsewhere/secret.png,1\n{secret},0\n"
                                               f"away/secret.png,0\nsecret.png,1\n")
    result = _predict(tmp_path, "--model", model, "--out", "folder.csv", "--cam", "cams", "films")
    assert result.returncode == 0, result.stderr
    errors = _table(tmp_path, "folder.csv")
    assert errors == {"again.png": "", "in.png": "", "passwd.png": "outside_data_folder",
                      "secret.png": "outside_data_folder"}, "the folder link 'away' is not entered"
    result = _predict(tmp_path, "--model", model, "--out", "listed.csv", "films/labels.csv")
    table = pd.read_csv(tmp_path / "listed.csv", dtype=str, keep_default_na=False)
    assert result.returncode == 0 and table["error"].tolist() == [""] + ["outside_data_folder"] * 4
    assert (table["probability"][1:] == "").all()
    assert len(list((tmp_path / "cams").glob("*.png"))) == 2, "no Grad-CAM of anything outside"


def test_the_filter_stages_quality_rules_apply_and_dicom_is_found_by_content(tmp_path):
    model = _model(tmp_path / "model.pt")
    write_png(tmp_path / "in/small.png", radiograph_like(0, size=40))
    write_png(tmp_path / "in/blank.png", np.full((96, 96), 90, dtype=np.uint8))
    write_dicom(tmp_path / "in/1.2.840.113619.2.55", radiograph_like(1).astype(np.uint16) * 16)
    write_dicom(tmp_path / "in/IM0001", radiograph_like(2).astype(np.uint16) * 16)
    result = _predict(tmp_path, "--model", model, "--out", "out.csv", "in")
    assert result.returncode == 0, result.stderr
    assert _table(tmp_path) == {"small.png": "too_small", "blank.png": "blank", "1.2.840.113619.2.55": "",
                                "IM0001": ""}


def test_nothing_scored_is_an_error_and_the_reasons_are_still_written(tmp_path):
    model = _model(tmp_path / "model.pt")
    (tmp_path / "a.png").write_text("not an image")
    result = _predict(tmp_path, "--model", model, "--out", "out.csv", "a.png")
    assert result.returncode == 1 and "error: no input could be scored" in result.stderr
    assert "Traceback" not in result.stderr and _table(tmp_path) == {"a.png": "not_an_image"}


def test_bad_labels_and_an_out_folder_are_one_line_before_anything_is_scored(tmp_path):
    model = _model(tmp_path / "model.pt")
    write_png(tmp_path / "x.png", radiograph_like(0))
    (tmp_path / "labels.csv").write_text("path,label\nx.png,maybe\n")
    result = _predict(tmp_path, "--model", model, "--out", "out.csv", "labels.csv")
    assert result.returncode == 1 and "labels.csv row 2: label 'maybe' is not 0/1" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out.csv").exists()
    result = _predict(tmp_path, "--model", model, "--out", "out.csv", "elsewhere/labels.csv")
    assert result.returncode == 1 and "elsewhere/labels.csv cannot be read (No such file" in result.stderr
    (tmp_path / "results").mkdir()
    result = _predict(tmp_path, "--model", model, "--out", "results", "x.png")
    assert result.returncode == 1 and "error: --out results is a folder" in result.stderr
    assert list((tmp_path / "results").iterdir()) == []
    result = _predict(tmp_path, "--model", model, "--out", "out.csv", "--cam", "x.png", "x.png")
    assert result.returncode == 1 and "error: --cam x.png is a file" in result.stderr
    result = _predict(tmp_path, "--model", "results", "--out", "out.csv", "x.png")
    assert result.returncode == 1 and "error: results is a folder; give the checkpoint file" in result.stderr
    assert not (tmp_path / "out.csv").exists()


def _predict_without_torch(tmp_path, *args):
    """`python -m fracture predict` in a process where `import torch` fails."""
    code = ("import sys; sys.modules['torch'] = None; from fracture.__main__ import main; "
            f"main({[str(arg) for arg in args]!r})")
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=stage_env(), capture_output=True,
                          text=True, timeout=300)


@pytest.mark.e2e
def test_the_onnx_export_predicts_without_pytorch_as_the_checkpoint_does(tmp_path):
    from fracture.inference.export import export_onnx
    from fracture.inference.loaded_model import LoadedModel

    model = _model(tmp_path / "model.pt")
    export_onnx(LoadedModel.load(model, "cpu"), tmp_path / "model.onnx")
    for index in range(6):
        write_png(tmp_path / f"films/{index}.png", radiograph_like(10 + index))
    write_png(tmp_path / "films/tiny.png", radiograph_like(0, size=32))
    (tmp_path / "films/broken.png").write_text("not an image")
    assert _predict(tmp_path, "--model", model, "--out", "pt.csv", "films").returncode == 0
    result = _predict_without_torch(tmp_path, "predict", "--model", "model.onnx", "--out", "onnx.csv", "films")
    assert result.returncode == 0, result.stderr
    pt, onnx = (pd.read_csv(tmp_path / name, dtype=str, keep_default_na=False) for name in ("pt.csv", "onnx.csv"))
    assert pt.drop(columns="probability").equals(onnx.drop(columns="probability")), "same decisions and reasons"
    scored = pt["error"] == ""
    assert scored.sum() == 6 and set(pt.loc[~scored, "error"]) == {"too_small", "not_an_image"}
    difference = pt.loc[scored, "probability"].astype(float) - onnx.loc[scored, "probability"].astype(float)
    assert difference.abs().max() <= 1e-4
    cam = _predict_without_torch(tmp_path, "predict", "--model", "model.onnx", "--out", "x.csv", "--cam", "cams",
                                 "films")
    assert cam.returncode == 1 and "Grad-CAM needs the PyTorch checkpoint" in cam.stderr
    assert "Traceback" not in cam.stderr


def _predict_here(tmp_path, monkeypatch, *args):
    """`python -m fracture predict` in this process, from `tmp_path`, its errors raised."""
    monkeypatch.chdir(tmp_path)
    main(["predict", *map(str, args)])


def test_a_decompression_bomb_is_too_large_before_it_is_decoded(tmp_path, monkeypatch, png_bomb):
    """9400 x 9400 at 16 bits in 190 kB: predict grew to 1.8 GB before it was found blank; now the header says it."""
    import tracemalloc

    model = _model(tmp_path / "model.pt")
    write_png(tmp_path / "films/good.png", radiograph_like(0))
    (tmp_path / "films/bomb.png").write_bytes(png_bomb.read_bytes())
    tracemalloc.start()
    try:
        _predict_here(tmp_path, monkeypatch, "--model", model, "--out", "out.csv", "films")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    table = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False).set_index("path")
    assert table["error"].to_dict() == {"films/bomb.png": "too_large", "films/good.png": ""}
    assert "9400x9400" in table.loc["films/bomb.png", "detail"]
    assert peak < 50 << 20, f"{peak} bytes traced; a decode would take 177 MB, its float copies 700 MB more"


def test_names_that_are_not_utf8_or_too_long_for_an_overlay_are_all_written(tmp_path, monkeypatch):
    import os

    model = _model(tmp_path / "model.pt")
    films = tmp_path / "films"
    write_png(films / "a.png", radiograph_like(0))
    os.rename(write_png(films / "b.png", radiograph_like(1)), os.fsencode(films) + b"/caf\xe9.png")  # Latin-1
    long_name = "x" * 200 + "\u00e9" * 25 + ".png"  # 250 characters, 254 bytes: with an index, over NAME_MAX
    write_png(films / long_name, radiograph_like(2))
    Path(os.fsdecode(os.fsencode(films) + b"/broken\xe9.png")).write_text("not an image")
    _predict_here(tmp_path, monkeypatch, "--model", model, "--out", "out.csv", "--cam", "cams", "films")
    table = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert table["path"].tolist() == ["films/a.png", "films/broken%E9.png", "films/caf%E9.png", f"films/{long_name}"]
    assert table["error"].tolist() == ["", "not_an_image", "", ""]
    overlays = sorted(path.name for path in (tmp_path / "cams").glob("*.png"))
    assert len(overlays) == 3 and all(len(os.fsencode(name)) <= 255 for name in overlays)
    assert overlays[1] == "00002_caf%E9.png" and overlays[2].startswith("00003_" + "x" * 100)


def test_films_are_read_and_scored_a_batch_at_a_time_with_the_same_rows(tmp_path, monkeypatch):
    import fracture.commands.predict as predicting

    model = predicting.open_model(_model(tmp_path / "model.pt"), "cpu")
    for index in range(10):
        write_png(tmp_path / f"films/{index:02d}.png", radiograph_like(index))
    (tmp_path / "films/05.png").write_text("not an image")
    whole = predicting.predict(model, [str(tmp_path / "films")])
    events, read, score = [], predicting.read_grayscale, type(model).scores
    monkeypatch.setattr(predicting, "BATCH", 3)
    monkeypatch.setattr(predicting, "read_grayscale", lambda path: events.append("read") or read(path))
    monkeypatch.setattr(type(model), "scores", lambda self, images: events.append(len(images)) or score(self, images))
    batched = predicting.predict(model, [str(tmp_path / "films")])
    assert batched.drop(columns="probability").equals(whole.drop(columns="probability"))
    assert (batched["probability"] - whole["probability"]).abs().max() < 1e-6, "batches of 3, not one of 9"
    assert events == ["read"] * 3 + [3] + ["read"] * 4 + [3] + ["read"] * 3 + [3], "never more than 3 held"


def _map_model(path, box: str = "extent"):
    from fracture.models.fracture_map import HeadSpec

    head = HeadSpec("map", "max", "mean", box=box)
    torch_module = __import__("torch")
    torch_module.manual_seed(0)
    network = build_model("simple_cnn", 2, width=4, head=head)
    with torch_module.no_grad():
        network.head[-1].bias.fill_(0.0)  # an untrained map with regions over one half, so that there are boxes
    preprocessing = Preprocessing(32, (), Normalization(0.4, 0.25))
    save_checkpoint(path, network.state_dict(),
                    CheckpointMetadata("simple_cnn", 4, "fracture", ["normal", "abnormal"], preprocessing,
                                       Thresholds(0.5, None, "youden"), best_epoch=1,
                                       quality=QualityRules(min_size=16, min_std=2.0), head=head))
    return path


@pytest.mark.parametrize("box", ["extent", "regressed"])
def test_a_map_models_boxes_round_trip_through_the_csv_and_the_coco_file_on_the_films_pixels(tmp_path, box):
    import json

    from fracture.data.annotations import read_coco

    model = _map_model(tmp_path / "map.pt", box)
    for index in range(3):
        write_png(tmp_path / f"films/{index}.png", radiograph_like(20 + index, size=96)[:, :70])
    result = _predict(tmp_path, "--model", model, "--out", "out.csv", "--boxes", "boxes.json", "--draw", "drawn",
                      "films")
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    coco = json.loads((tmp_path / "boxes.json").read_text())
    read, left_out = read_coco(tmp_path / "boxes.json", "boxes.json", dict(zip(table["path"], table["path"])))
    assert not any(left_out.values()) and sum(map(len, read.values())) == len(coco["annotations"]) > 0
    for path, boxes in zip(table["path"], table["boxes"]):
        written = json.loads(boxes)
        assert np.allclose([box[:4] for box in written], [item["box"] for item in read.get(path, [])], atol=0.06)
        assert all(0 <= x and 0 <= y and x + w <= 70.01 and y + h <= 96.01 for x, y, w, h, _ in written), \
            "on the film's own 70 x 96 pixels"
    image = coco["images"][0]
    assert (image["width"], image["height"]) == (70, 96)
    assert sorted(path.name for path in (tmp_path / "drawn").glob("*.png")) == ["00000_0.png", "00001_1.png",
                                                                                "00002_2.png"]
    (tmp_path / "mine.json").write_text('{"my": "notes"}')
    refused = _predict(tmp_path, "--model", model, "--out", "again.csv", "--boxes", "mine.json", "films")
    assert refused.returncode == 1 and "was not written by predict" in refused.stderr
    assert (tmp_path / "mine.json").read_text() == '{"my": "notes"}'
    again = _predict(tmp_path, "--model", model, "--out", "out.csv", "--boxes", "boxes.json", "films")
    assert again.returncode == 0, "its own file may be replaced"


def test_boxes_from_a_model_without_a_map_is_one_line(tmp_path):
    model = _model(tmp_path / "model.pt")
    write_png(tmp_path / "films/0.png", radiograph_like(3))
    result = _predict(tmp_path, "--model", model, "--out", "out.csv", "--boxes", "boxes.json", "films")
    assert result.returncode == 1 and "need a fracture map model" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.e2e
@pytest.mark.parametrize("box", ["extent", "regressed"])
def test_the_onnx_export_of_a_map_model_finds_the_same_boxes_without_pytorch(tmp_path, box):
    from fracture.inference.export import export_onnx
    from fracture.inference.loaded_model import LoadedModel

    model = _map_model(tmp_path / "map.pt", box)
    export_onnx(LoadedModel.load(model, "cpu"), tmp_path / "map.onnx")
    for index in range(4):
        write_png(tmp_path / f"films/{index}.png", radiograph_like(30 + index, size=80))
    assert _predict(tmp_path, "--model", model, "--out", "pt.csv", "films").returncode == 0
    result = _predict_without_torch(tmp_path, "predict", "--model", "map.onnx", "--out", "onnx.csv", "films")
    assert result.returncode == 0, result.stderr
    pt, onnx = (pd.read_csv(tmp_path / name, dtype=str, keep_default_na=False) for name in ("pt.csv", "onnx.csv"))
    assert (pt["boxes"] != "[]").any() and pt["boxes"].equals(onnx["boxes"])
