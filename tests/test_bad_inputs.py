"""A corpus of bad and awkward files goes through download and filter: reasons, no crash."""

import json

import numpy as np
import pandas as pd
from PIL import Image

from tests.conftest import radiograph_like, run_stage_here, tiny_params, write_dicom, write_png


def _corpus(folder):
    good = radiograph_like(0)
    write_png(folder / "good.png", good)
    write_png(folder / "copy_of_good.png", good)
    write_png(folder / "conflict_a.png", radiograph_like(1))
    write_png(folder / "conflict_b.png", radiograph_like(1))
    Image.fromarray(radiograph_like(2)).save(folder / "cut.jpg", quality=95)
    (folder / "cut.jpg").write_bytes((folder / "cut.jpg").read_bytes()[:400])
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.png").write_text("this is a note, not an image")
    write_png(folder / "blank.png", np.full((96, 96), 128, dtype=np.uint8))
    write_png(folder / "tiny.png", radiograph_like(3, size=24))
    Image.fromarray((radiograph_like(4).astype(np.uint16) * 250)).save(folder / "deep16.png")
    Image.fromarray(radiograph_like(5)).convert("RGB").save(folder / "rgb.png")
    Image.fromarray(radiograph_like(6)).convert("RGBA").save(folder / "rgba.png")
    Image.fromarray(radiograph_like(7)).convert("P").save(folder / "palette.png")
    write_dicom(folder / "mono1.dcm", radiograph_like(8).astype(np.uint16) * 16, photometric="MONOCHROME1")
    write_dicom(folder / "nopixels.dcm", radiograph_like(9).astype(np.uint16), with_pixels=False)
    rows = {"good.png": 1, "copy_of_good.png": 1, "conflict_a.png": 1, "conflict_b.png": 0, "cut.jpg": 0,
            "empty.png": 0, "text.png": 1, "blank.png": 0, "tiny.png": 1, "deep16.png": 0, "rgb.png": 1,
            "rgba.png": 0, "palette.png": 1, "mono1.dcm": 0, "nopixels.dcm": 1, "missing.png": 0}
    outside = write_png(folder.parent / "outside.png", radiograph_like(10))  # a readable image beyond the folder
    rows.update({"../outside.png": 1, str(outside): 0})
    lines = [f"{path},{label},wrist,p{index}" for index, (path, label) in enumerate(rows.items())]
    (folder / "labels.csv").write_text("path,label,region,patient_id\n" + "\n".join(lines) + "\n")


# "good" is the later copy of "copy_of_good" by image_id, so it is the one dropped.
EXPECTED = {"good": "duplicate", "conflict_a": "duplicate_conflicting_labels",
            "conflict_b": "duplicate_conflicting_labels", "cut": "truncated_or_corrupt", "empty": "empty_file",
            "text": "not_an_image", "blank": "blank", "tiny": "too_small", "nopixels": "no_pixel_data",
            "missing": "missing_file", "../outside": "outside_data_folder"}


def test_every_bad_case_is_rejected_with_its_reason_and_converted_ones_are_kept(tmp_path):
    _corpus(tmp_path / "corpus")
    params = tiny_params(**{"data.source": "folder", "data.path": str(tmp_path / "corpus"), "filter.regions": ["all"]})
    for stage in ("download", "filter"):
        result = run_stage_here(stage, tmp_path, params)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    rejected = pd.read_csv(tmp_path / "data/filtered/rejected.csv")
    outside = str((tmp_path / "outside").as_posix())
    assert dict(zip(rejected["image_id"], rejected["reason"])) == {**EXPECTED, outside: "outside_data_folder"}
    unread = rejected[rejected["reason"] == "outside_data_folder"]
    assert unread["sha256"].str.startswith("outside:").all(), "a path outside the folder is never hashed"
    assert not list((tmp_path / "data/raw").rglob("outside.png")), "nor copied"
    kept = set(pd.read_csv(tmp_path / "data/filtered/manifest.csv")["image_id"])
    assert kept == {"copy_of_good", "deep16", "rgb", "rgba", "palette", "mono1"}
    report = json.loads((tmp_path / "reports/filter.json").read_text())
    assert report["images_kept"] == 6 and sum(report["rejected"].values()) == len(EXPECTED) + 1
