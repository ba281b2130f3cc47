"""The shortcut check on the training split, and test metrics per subgroup and under each shortcut."""

import numpy as np
import pandas as pd
import pytest

from fracture.core.errors import ParamError
from fracture.evaluation.scoring import EvaluateConfig, Task, scored
from fracture.evaluation.shortcuts import findings, kept_rows, shortcut_check
from fracture.evaluation.subgroups import chosen, prediction_levels, shortcut_metrics, subgroup_metrics

TASK = Task("fracture", ["normal", "abnormal"], 0.5)
CONFIG = EvaluateConfig(resamples=100, ci_level=0.95, calibration_bins=10, cam_examples=0, seed=0)


def _manifest(count=400, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = (rng.random(count) < 0.3).astype(int)
    hardware = np.where((label == 1) & (rng.random(count) < 0.3), "1", "0")
    shifted = np.where(rng.random(count) < np.where(label == 1, 0.8, 0.3), "tall", "wide")
    return pd.DataFrame({"image_id": [f"i{index}" for index in range(count)],
                         "patient_id": [f"p{index // 2}" for index in range(count)], "label": label,
                         "split": np.where(np.arange(count) % 4 == 0, "test", "train"), "view": "",
                         "cov_hardware": hardware, "cov_label_copy": label.astype(str), "cov_shape": shifted,
                         "cov_noise": rng.choice(["a", "b", "c"], count)})


def test_a_covariate_equal_to_the_label_is_flagged_as_encoding_it():
    check = shortcut_check(_manifest(), min_auc=0.55, seed=0)
    copy = check["covariates"]["label_copy"]
    assert copy["auc"] == 1.0 and copy["shortcut"]["kind"] == "encodes_label" and copy["shortcut"]["text"] is None


def test_a_level_with_one_label_only_is_flagged_and_left_out_of_the_test_metrics():
    check = shortcut_check(_manifest(), min_auc=0.55, seed=0)
    hardware = check["covariates"]["hardware"]
    assert hardware["levels"]["1"]["images"] == hardware["levels"]["1"]["fractured"] >= 10
    assert hardware["shortcut"] | {"reason": ""} == {"kind": "one_label_level", "without": ["1"], "reason": "",
                                                      "text": "without hardware = 1"}


def test_a_covariate_whose_levels_predict_the_label_is_flagged_and_noise_is_not():
    check = shortcut_check(_manifest(), min_auc=0.55, seed=0)
    shape = check["covariates"]["shape"]
    assert shape["ci"]["low"] >= 0.55 and shape["shortcut"]["kind"] == "high_auc"
    assert shape["shortcut"]["within"] == max(shape["levels"], key=lambda level: shape["levels"][level]["images"])
    assert check["covariates"]["noise"]["shortcut"] is None
    assert {finding["covariate"] for finding in findings(check)} == {"label_copy", "hardware", "shape"}


def test_the_check_sees_the_training_split_only():
    manifest = _manifest()
    manifest.loc[manifest["split"] == "test", "cov_hardware"] = "2"
    levels = shortcut_check(manifest, min_auc=0.55, seed=0)["covariates"]["hardware"]["levels"]
    train = (manifest["split"] == "train").sum()
    assert "2" not in levels and sum(level["images"] for level in levels.values()) == train


def _test_predictions(manifest: pd.DataFrame, seed=1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    test = manifest[manifest["split"] == "test"].reset_index(drop=True)
    probability = np.clip(0.3 + 0.4 * test["label"] + rng.normal(0, 0.2, len(test)), 0, 1)
    return test.assign(probability=probability, predicted=(probability >= 0.5).astype(int))


def test_shortcut_metrics_are_the_test_metrics_of_the_images_a_restriction_keeps():
    manifest = _manifest()
    test = _test_predictions(manifest)
    levels = prediction_levels(manifest, test)
    found = findings(shortcut_check(manifest, min_auc=0.55, seed=0))
    result = shortcut_metrics(test, levels, found, TASK, CONFIG)
    without = test[test["cov_hardware"] != "1"]
    assert result["without"]["text"] == "without hardware = 1"
    assert result["without"]["image"] == scored(without, TASK, CONFIG, with_ci=True)
    by_name = {entry["covariate"]: entry for entry in result["found"]}
    assert "test" not in by_name["label_copy"], "a covariate that is the label restricts nothing"
    common = next(finding for finding in found if finding["covariate"] == "shape")["within"]
    assert by_name["shape"]["test"]["n"] == (test["cov_shape"] == common).sum()
    hardware = next(finding for finding in found if finding["covariate"] == "hardware")
    assert (kept_rows(levels, hardware) == (test["cov_hardware"] != "1").to_numpy()).all()


def test_subgroups_too_small_to_say_anything_are_marked_and_get_no_interval():
    manifest = _manifest()
    test = _test_predictions(manifest)
    table = subgroup_metrics(test, prediction_levels(manifest, test)[["hardware", "noise"]], TASK, CONFIG)
    assert table["hardware"]["1"]["too_small"] and "ci" not in table["hardware"]["1"]
    assert table["hardware"]["1"]["n"] == (test["cov_hardware"] == "1").sum()
    zero = table["hardware"]["0"]
    assert zero["too_small"] == (min(zero["positives"], zero["n"] - zero["positives"]) < 10)
    assert sum(level["n"] for level in table["noise"].values()) == len(test)


def test_asking_for_a_subgroup_the_data_lacks_names_the_ones_it_has():
    manifest = _manifest()
    levels = prediction_levels(manifest, _test_predictions(manifest))
    assert list(chosen(levels, ("hardware",), manifest)) == ["hardware"]
    with pytest.raises(ParamError, match="evaluate.subgroups.*choose from: auto, view, hardware"):
        chosen(levels, ("sex",), manifest)
