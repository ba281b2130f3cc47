import pandas as pd
import pytest

from fracture.evaluation import confusion_rows, pr_points, predictions_frame, roc_points, split_metrics


def _rows():
    return pd.DataFrame({"image_id": list("abcdef"), "path": list("abcdef"), "patient_id": ["p", "p", "q", "q", "r", "r"],
                         "study_id": ["s1", "s1", "s2", "s2", "s3", "s3"], "region": "wrist", "split": "test",
                         "label": [1, 1, 0, 0, 1, 1]})


def test_image_and_study_metrics_use_the_same_frozen_threshold():
    frame = predictions_frame(_rows(), [0.9, 0.3, 0.2, 0.4, 0.45, 0.5], threshold=0.5)
    assert frame["predicted"].tolist() == [1, 0, 0, 0, 0, 1]
    metrics = split_metrics(frame, threshold=0.5)
    assert metrics["image"]["sensitivity"] == pytest.approx(2 / 4)
    # study means: s1 0.6 (abnormal), s2 0.3 (normal), s3 0.475 (abnormal, missed at 0.5)
    assert metrics["study"]["n"] == 3 and metrics["study"]["sensitivity"] == pytest.approx(1 / 2)
    assert metrics["study"]["specificity"] == 1.0


def test_curves_and_confusion_rows():
    frame = predictions_frame(_rows(), [0.9, 0.3, 0.2, 0.4, 0.45, 0.5], threshold=0.5)
    roc = roc_points(frame["label"], frame["probability"])
    assert roc.iloc[0][["fpr", "tpr"]].tolist() == [0, 0] and roc.iloc[-1][["fpr", "tpr"]].tolist() == [1, 1]
    assert roc["threshold"].max() <= 1.0
    pr = pr_points(frame["label"], frame["probability"])
    assert pr["recall"].max() == 1.0 and {"recall", "precision"} == set(pr.columns)
    confusion = confusion_rows(frame, ["normal", "abnormal"])
    assert confusion.value_counts().to_dict() == {("abnormal", "abnormal"): 2, ("abnormal", "normal"): 2,
                                                  ("normal", "normal"): 2}
