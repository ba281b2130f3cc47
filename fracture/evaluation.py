"""Scoring a trained model on validation and test predictions.

The threshold comes from the checkpoint, where training chose it on
validation data; here it is only applied. Test metrics are reported per image
and per study (mean probability of the study's views).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve

from .metrics import binary_metrics, study_level

PREDICTION_COLUMNS = ["image_id", "path", "patient_id", "study_id", "region", "split", "label", "probability",
                      "predicted"]


def predictions_frame(rows: pd.DataFrame, probabilities, threshold: float) -> pd.DataFrame:
    probabilities = np.asarray(probabilities, dtype=float)
    frame = rows.assign(probability=probabilities, predicted=(probabilities >= threshold).astype(int))
    return frame[PREDICTION_COLUMNS]


def split_metrics(predictions: pd.DataFrame, threshold: float) -> dict:
    """Image- and study-level metrics of one split at the frozen threshold."""
    studies = study_level(predictions)
    return {"image": binary_metrics(predictions["label"], predictions["probability"], threshold),
            "study": binary_metrics(studies["label"], studies["probability"], threshold)}


def roc_points(labels, probabilities) -> pd.DataFrame:
    fpr, tpr, thresholds = roc_curve(labels, probabilities, drop_intermediate=False)
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": np.minimum(thresholds, 1.0)})


def pr_points(labels, probabilities) -> pd.DataFrame:
    precision, recall, _ = precision_recall_curve(labels, probabilities)
    return pd.DataFrame({"recall": recall, "precision": precision})


def confusion_rows(predictions: pd.DataFrame, classes: list[str]) -> pd.DataFrame:
    """One row per image with its actual and predicted class name, as DVC's confusion template reads."""
    names = np.array(classes)
    return pd.DataFrame({"actual": names[predictions["label"].to_numpy()],
                         "predicted": names[predictions["predicted"].to_numpy()]})
