"""The whole pipeline on the real FracAtlas sample in ../shared, through the `folder` source."""

import json

import pandas as pd
import pytest

from tests.conftest import SHARED_DATA, copy_project, dvc, stages_run, tiny_params

FRACATLAS = SHARED_DATA / "fracatlas"
pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not (FRACATLAS / "labels.csv").is_file(),
                                 reason=f"the FracAtlas sample is not at {FRACATLAS} (../shared beside the repo)")]


def test_pipeline_runs_on_the_fracatlas_sample(tmp_path):
    params = tiny_params(**{"data.source": "folder", "data.path": str(FRACATLAS), "filter.regions": ["all"],
                            "enhance.image_size": 64})
    root = copy_project(tmp_path, params)
    assert len(stages_run(dvc(root, "repro").stdout)) == 8
    filtered = json.loads((root / "reports/filter.json").read_text())
    assert filtered["images_in"] == 594 and filtered["images_kept"] >= 590
    assert set(filtered["kept"]) == {"hand", "leg", "mixed", "shoulder", "hip"}
    split = json.loads((root / "reports/split.json").read_text())
    assert split["leakage"] == {"patients_crossing": 0, "studies_crossing": 0, "duplicates_crossing": 0}
    assert not split["official_test"] and all(s["abnormal"] and s["normal"] for s in split["splits"].values())
    assert split["grouping"]["kinds"] == {"pseudo_patient": filtered["images_kept"]}
    assert not split["grouping"]["has_studies"], "FracAtlas has no studies"
    metrics = json.loads((root / "reports/eval/metrics.json").read_text())
    assert metrics["test"]["image"]["n"] == split["splits"]["test"]["images"]
    assert set(metrics["test"]) == {"image"} and metrics["study_threshold"] is None, "no made-up study level"
    report = (root / "reports/report.md").read_text()
    assert "pseudo-patient groups (heuristic: the pseudo_group column of labels.csv)" in report
    assert "per study" not in report and "resamples of patients" not in report
    assert (root / "reports/report.html").stat().st_size > 10_000
    raw = json.loads((root / "data/raw/annotations.json").read_text())
    assert len(raw["images"]) == 297 and sum(raw["left_out"].values()) == 0, "every fractured film is annotated"
    placed = json.loads((root / "data/processed/annotations.json").read_text())
    kept = pd.read_csv(root / "data/processed/manifest.csv")
    assert set(placed) == set(kept.loc[kept["label"] == 1, "image_id"]) & set(raw["images"])
    for boxes in placed.values():  # in the 64 px squares the model sees
        assert all(-1 <= x and -1 <= y and x + w <= 65 and y + h <= 65 for x, y, w, h in (b["box"] for b in boxes))
    localisation = metrics["localisation"]
    fractured_test = kept[(kept["split"] == "test") & (kept["label"] == 1)]
    assert localisation["annotated"]["images"] == len(fractured_test) and localisation["tolerance_px"] == 2
    for key in ("hit", "chance_hit", "mass_inside", "chance_mass_inside", "outline_share"):
        score = localisation["annotated"][key]
        assert 0 <= score["low"] <= score["value"] <= score["high"] <= 1, key
    assert "### Where the model looks" in report and "pointing game" in report
    gallery = sorted((root / "reports/eval/gradcam").glob("annotated_*.png"))
    assert len(gallery) == 2 * params["evaluate"]["gradcam_examples"] and "outlines in green" in report
    predictions = pd.read_csv(root / "reports/eval/predictions.csv")
    assert predictions["cam_hit"].notna().sum() == len(fractured_test), "each scored film's hit, for compare"

    # Subgroups and shortcuts: only fractured films show hardware, and fracture_count is the label itself
    covariates = split["shortcuts"]["covariates"]
    assert {"hardware", "multiscan", "view", "aspect_ratio", "source_size"} <= set(covariates)
    assert covariates["hardware"]["shortcut"]["kind"] == "one_label_level"
    assert covariates["hardware"]["shortcut"]["without"] == ["1"]
    assert covariates["fracture_count"]["shortcut"]["kind"] == "encodes_label"
    assert "sha256" not in covariates and "source_file" not in covariates, "columns that name images are no groups"
    without = metrics["shortcuts"]["without"]
    hardware_test = kept[(kept["split"] == "test") & (kept["cov_hardware"] == 1)]
    assert without["text"] == "without hardware = 1" and len(hardware_test)
    assert without["image"]["n"] == metrics["test"]["image"]["n"] - len(hardware_test)
    assert metrics["test_by_subgroup"]["hardware"]["1"]["n"] == len(hardware_test)
    assert "### Subgroups and shortcuts" in report and "without hardware = 1" in report
