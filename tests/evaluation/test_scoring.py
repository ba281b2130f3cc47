import numpy as np
import pandas as pd
import pytest

from fracture.evaluation.scoring import (
    EvaluateConfig,
    Task,
    calibration_points,
    confusion_rows,
    pr_points,
    predictions_frame,
    region_metrics,
    roc_points,
    split_metrics,
)

NO_CI = EvaluateConfig(resamples=0, ci_level=0.95, calibration_bins=10, cam_examples=0, seed=0)
FRACTURE = Task("fracture", ["normal", "abnormal"], threshold=0.5, study_threshold=0.45)


def _rows(regions=("wrist",) * 6):
    return pd.DataFrame({"image_id": list("abcdef"), "path": list("abcdef"),
                         "patient_id": ["p", "p", "q", "q", "r", "r"],
                         "study_id": ["s1", "s1", "s2", "s2", "s3", "s3"], "region": list(regions), "split": "test",
                         "label": [1, 1, 0, 0, 1, 1]})


def _binary(p):
    return np.column_stack([1 - np.asarray(p), p])


def test_images_and_studies_are_scored_at_their_own_frozen_thresholds():
    frame = predictions_frame(_rows(), _binary([0.9, 0.3, 0.2, 0.4, 0.45, 0.5]), FRACTURE)
    assert frame["predicted"].tolist() == [1, 0, 0, 0, 0, 1]
    metrics = split_metrics(frame, FRACTURE, NO_CI)
    assert metrics["image"]["sensitivity"] == pytest.approx(2 / 4)
    # study means: s1 0.6 (abnormal), s2 0.3 (normal), s3 0.475 (abnormal: missed at the image threshold 0.5,
    # found at the study threshold 0.45)
    assert metrics["study"]["n"] == 3 and metrics["study"]["sensitivity"] == 1.0
    assert metrics["study"]["specificity"] == 1.0
    assert "ci" not in metrics["image"]


def test_intervals_are_attached_per_metric():
    frame = predictions_frame(_rows(), _binary([0.9, 0.3, 0.2, 0.4, 0.45, 0.5]), FRACTURE)
    metrics = split_metrics(frame, FRACTURE, EvaluateConfig(200, 0.9, 10, 0, 1))
    interval = metrics["image"]["ci"]["sensitivity"]
    assert interval["low"] <= metrics["image"]["sensitivity"] <= interval["high"]


def test_per_region_only_when_several_regions_have_both_classes():
    one = predictions_frame(_rows(), _binary([0.9, 0.3, 0.2, 0.4, 0.45, 0.5]), FRACTURE)
    assert region_metrics(one, FRACTURE, NO_CI) == {}
    two = predictions_frame(_rows(("wrist",) * 4 + ("hand",) * 2), _binary([0.9, 0.3, 0.2, 0.4, 0.45, 0.5]), FRACTURE)
    assert list(region_metrics(two, FRACTURE, EvaluateConfig(50, 0.95, 10, 0, 0))) == ["wrist"]


def test_curves_and_confusion_rows():
    frame = predictions_frame(_rows(), _binary([0.9, 0.3, 0.2, 0.4, 0.45, 0.5]), FRACTURE)
    roc = roc_points(frame, FRACTURE)
    assert roc.iloc[0][["fpr", "tpr"]].tolist() == [0, 0] and roc.iloc[-1][["fpr", "tpr"]].tolist() == [1, 1]
    assert roc["threshold"].max() <= 1.0
    pr = pr_points(frame, FRACTURE)
    assert pr["recall"].max() == 1.0 and {"recall", "precision"} == set(pr.columns)
    confusion = confusion_rows(frame, FRACTURE)
    assert confusion.value_counts().to_dict() == {("abnormal", "abnormal"): 2, ("abnormal", "normal"): 2,
                                                  ("normal", "normal"): 2}


def test_region_task_predictions_curves_and_calibration():
    task = Task("region", ["hand", "wrist"])
    rows = _rows().assign(label=[0, 0, 1, 1, 1, 0])
    frame = predictions_frame(rows, np.array([[.9, .1], [.4, .6], [.2, .8], [.3, .7], [.6, .4], [.8, .2]]), task)
    assert frame["predicted"].tolist() == ["hand", "wrist", "wrist", "wrist", "hand", "hand"]
    assert frame["actual"].tolist() == ["hand", "hand", "wrist", "wrist", "wrist", "hand"]
    metrics = split_metrics(frame, task, NO_CI)
    assert metrics["image"]["accuracy"] == pytest.approx(4 / 6)
    assert len(roc_points(frame, task)) >= 2
    table, ece = calibration_points(frame, task, bins=5)
    assert table["count"].sum() == 6 and 0 <= ece <= 1
    assert confusion_rows(frame, task)["predicted"].tolist()[:2] == ["hand", "wrist"]
