import numpy as np
import pandas as pd
import pytest

from fracture.core.errors import ParamError
from fracture.data.filter import REASONS, apply_filter, duplicate_reasons, filter_config
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
    monkeypatch.setattr("fracture.data.filter.read_grayscale", lambda path: opened.append(path))
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


def test_a_file_named_many_times_is_decoded_once_and_its_copies_dropped(tmp_path, monkeypatch):
    from fracture.imaging import io

    film = write_png(tmp_path / "film.png", radiograph_like(0))
    (tmp_path / "film.dcm").write_bytes(film.read_bytes())  # the same bytes for another reader: read on their own
    decoded = []
    monkeypatch.setattr("fracture.data.filter.read_grayscale", lambda path: decoded.append(path.name) or
                        io.read_grayscale(path))
    manifest = _manifest([{"image_id": f"row{index}", "path": "film.png", "region": "wrist", "label": 1,
                           "sha256": "same"} for index in range(50)] +
                         [{"image_id": "z", "path": "film.dcm", "region": "wrist", "label": 1, "sha256": "same"}])
    kept, rejected, report = apply_filter(manifest, tmp_path, _config())
    assert decoded == ["film.png", "film.dcm"]
    assert kept["image_id"].tolist() == ["row0"] and report["rejected"]["duplicate"] == 49
    assert rejected.set_index("image_id").loc["z", "reason"] == "not_an_image", "a PNG named .dcm is not DICOM"


def test_a_decompression_bomb_is_rejected_as_too_large_in_little_memory(tmp_path, png_bomb):
    """9400 x 9400 at 16 bits: a full decode took 1.1 GB, its float64 copies 3 GB; the header alone suffices."""
    import json
    import subprocess
    import sys

    from tests.conftest import stage_env

    write_png(tmp_path / "good.png", radiograph_like(0))
    (tmp_path / "bomb.png").symlink_to(png_bomb)
    code = (
        "import json, sys; import pandas as pd\n"
        "from pathlib import Path\n"
        "from fracture.data.filter import apply_filter, filter_config\n"
        "from tests.conftest import default_params\n"
        "rows = [dict(image_id=f'b{i}', path='bomb.png', sha256='bomb') for i in range(3)]"
        " + [dict(image_id='g', path='good.png', sha256='good')]\n"
        "manifest = pd.DataFrame([dict(row, patient_id='p', study_id='s', region='wrist', label=0, view='',"
        " source='t', source_split='') for row in rows])\n"
        "kept, rejected, _ = apply_filter(manifest, Path(sys.argv[1]), filter_config(default_params()))\n"
        "peak = next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmHWM'))\n"
        "print(json.dumps([kept['image_id'].tolist(), rejected['reason'].tolist(), rejected['detail'].tolist(), peak]))"
        "\n")  # VmHWM, not ru_maxrss: that keeps the peak of the process it was forked from (this one)
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=stage_env(), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    kept, reasons, details, peak_kb = json.loads(result.stdout)
    assert kept == ["g"] and reasons == ["too_large"] * 3 and "9400x9400" in details[0]
    assert peak_kb < 300_000, f"{peak_kb} kB"
