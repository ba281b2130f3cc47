"""The films the report shows: its most confident calls of each outcome, with the annotators' outlines drawn."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from fracture.data.annotations import outlines
from fracture.evaluation.scoring import Task


def outlined(overlay: np.ndarray, annotations: list[dict]) -> np.ndarray:
    """The overlay with the annotators' outlines (their boxes where they have none) drawn in green."""
    drawn = overlay.copy()
    for annotation in annotations:
        for polygon in outlines(annotation):
            points = np.round(np.reshape(polygon, (-1, 2)) - 0.5).astype(np.int32)  # pixel edges to pixel centres
            cv2.polylines(drawn, [points], isClosed=True, color=(0, 255, 0), thickness=1)
    return drawn


def boxed(overlay: np.ndarray, boxes: list[dict]) -> np.ndarray:
    """The overlay with a fracture map's boxes drawn in red."""
    drawn = overlay.copy()
    for item in boxes:
        x, y, width, height = (int(round(value)) for value in item["box"])
        cv2.rectangle(drawn, (x, y), (x + width - 1, y + height - 1), color=(255, 0, 0), thickness=1)
    return drawn


def pick_examples(predictions: pd.DataFrame, per_outcome: int, task: Task) -> dict[str, pd.DataFrame]:
    """The most confident examples of each outcome (binary) or of right and wrong answers (multi-class)."""
    if task.binary:
        label, called = predictions["label"] == 1, predictions["predicted"] == 1
        masks = {"true_positive": label & called, "false_positive": ~label & called,
                 "false_negative": label & ~called, "true_negative": ~label & ~called}
        confidence = (predictions["probability"] - task.threshold).abs()
    else:
        right = predictions["predicted"] == np.asarray(task.classes)[predictions["label"].to_numpy()]
        masks = {"correct": right, "wrong": ~right}
        confidence = predictions[task.probability_columns].max(axis=1)
    ranked = predictions.assign(_confidence=confidence).sort_values(["_confidence", "image_id"],
                                                                    ascending=[False, True])
    return {outcome: ranked[mask.loc[ranked.index]].head(per_outcome).drop(columns="_confidence")
            for outcome, mask in masks.items()}
