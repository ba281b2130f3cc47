import numpy as np
import pandas as pd
import pytest

from fracture.errors import ParamError
from fracture.selection import REASONS, apply_filter, duplicate_reasons, filter_config
from tests.conftest import default_params, radiograph_like, with_overrides, write_png


def _manifest(rows):
    base = {"patient_id": "p", "study_id": "s", "view": "", "source": "t", "source_split": ""}
    return pd.DataFrame([{**base, **row} for row in rows])


def _config(**overrides):
    return filter_config(with_overrides(default_params(), {f"filter.{k}": v for k, v in overrides.items()}))


@pytest.mark.parametrize("workers", [1, 3])
def test_bad_images_are_rejected_with_reasons_and_duplicates_dropped(tmp_path, workers):
    write_png(tmp_path / "good.png", radiograph_like(0))
    write_png(tmp_path / "copy.png", radiograph_like(0))
    write_png(tmp_path / "blank.png", np.full((96, 96), 77, dtype=np.uint8))
    write_png(tmp_path / "tiny.png", radiograph_like(1, size=20))
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello")
    manifest = _manifest([
        {"image_id": "a", "path": "good.png", "region": "wrist", "label": 1, "sha256": "h1"},
        {"image_id": "b", "path": "copy.png", "region": "wrist", "label": 1, "sha256": "h1"},
        {"image_id": "c", "path": "blank.png", "region": "wrist", "label": 0, "sha256": "h2"},
        {"image_id": "d", "path": "tiny.png", "region": "wrist", "label": 0, "sha256": "h3"},
        {"image_id": "e", "path": "empty.png", "region": "wrist", "label": 0, "sha256": "h4"},
        {"image_id": "f", "path": "text.png", "region": "wrist", "label": 0, "sha256": "h5"},
        {"image_id": "g", "path": "good.png", "region": "elbow", "label": 0, "sha256": "h6"},
    ])
    kept, rejected, report = apply_filter(manifest, tmp_path, _config(regions=["wrist"], min_size=64), workers)
    assert kept["image_id"].tolist() == ["a"]
    assert kept[["cov_aspect_ratio", "cov_source_size"]].values.tolist() == [["1.00", "96x96"]], "its geometry"
    assert dict(zip(rejected["image_id"], rejected["reason"])) == {
        "b": "duplicate", "c": "blank", "d": "too_small", "e": "empty_file", "f": "not_an_image"}
    assert report["images_in"] == 7 and report["images_in_regions"] == 6 and report["images_kept"] == 1
    assert set(report["rejected"]) == set(REASONS)
    assert report["kept"] == {"wrist": {"abnormal": 1, "normal": 0}}


def test_paths_leaving_the_data_folder_are_rejected_unread(tmp_path, monkeypatch):
    write_png(tmp_path / "outside.png", radiograph_like(0))
    (tmp_path / "root").mkdir()
    opened = []
    monkeypatch.setattr("fracture.selection.read_grayscale", lambda path: opened.append(path))
    manifest = _manifest([
        {"image_id": "up", "path": "../outside.png", "region": "wrist", "label": 1, "sha256": "1"},
        {"image_id": "abs", "path": str(tmp_path / "outside.png"), "region": "wrist", "label": 0, "sha256": "2"},
        {"image_id": "deep", "path": "a/../../outside.png", "region": "wrist", "label": 0, "sha256": "3"},
        {"image_id": "link", "path": "link.png", "region": "wrist", "label": 0, "sha256": "outside:link.png"}])
    kept, rejected, report = apply_filter(manifest, tmp_path / "root", _config())
    assert kept.empty and set(rejected["reason"]) == {"outside_data_folder"} and not opened
    assert report["rejected"]["outside_data_folder"] == 4


def test_duplicates_with_conflicting_labels_are_all_dropped():
    manifest = _manifest([{"image_id": "x", "label": 1, "sha256": "h"}, {"image_id": "y", "label": 0, "sha256": "h"},
                          {"image_id": "z", "label": 0, "sha256": "k"}])
    assert duplicate_reasons(manifest).tolist() == ["duplicate_conflicting_labels"] * 2 + [""]


def test_all_keeps_every_region(tmp_path):
    write_png(tmp_path / "a.png", radiograph_like(0))
    write_png(tmp_path / "b.png", radiograph_like(1))
    manifest = _manifest([{"image_id": "a", "path": "a.png", "region": "wrist", "label": 1, "sha256": "1"},
                          {"image_id": "b", "path": "b.png", "region": "hip", "label": 0, "sha256": "2"}])
    kept, _, _ = apply_filter(manifest, tmp_path, _config(regions=["all"]))
    assert len(kept) == 2


def test_a_region_without_images_names_the_regions_present(tmp_path):
    manifest = _manifest([{"image_id": "a", "path": "a.png", "region": "wrist", "label": 1, "sha256": "1"}])
    with pytest.raises(ParamError,
                       match=r"filter.regions = 'elbow' is not valid; no images of that region .* all, wrist"):
        apply_filter(manifest, tmp_path, _config(regions=["elbow"]))


def test_regions_must_be_a_list_of_names():
    with pytest.raises(ParamError, match="filter.regions"):
        _config(regions=[])
    assert _config(regions="Wrist").regions == ["wrist"]
