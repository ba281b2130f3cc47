"""Stage evaluate: test metrics at the threshold frozen on validation, curves, predictions."""

import logging
from pathlib import Path

import pandas as pd

from fracture.errors import run_stage
from fracture.evaluation import confusion_rows, pr_points, predictions_frame, roc_points, split_metrics
from fracture.storage import atomic_path, write_json
from fracture.training.checkpoint import load_checkpoint
from fracture.training.config import resolve_device
from fracture.training.data import Normalization, load_split
from fracture.training.loop import predict_probabilities

log = logging.getLogger("stages.evaluate")

PROCESSED = Path("data/processed")
MODEL = Path("models/model.pt")
OUT = Path("reports/eval")


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as temporary:
        frame.to_csv(temporary, index=False, float_format="%.6g")


def main() -> None:
    device = resolve_device("auto")
    model, metadata = load_checkpoint(MODEL, device)
    normalization = Normalization(**metadata["normalization"])
    threshold = metadata["threshold"]
    predictions, metrics = [], {"threshold": threshold, "threshold_method": metadata["threshold_method"]}
    for split in ("val", "test"):
        data = load_split(PROCESSED, split)
        probabilities = predict_probabilities(model, data.images, normalization, device)[:, 1].numpy()
        frame = predictions_frame(data.rows, probabilities, threshold)
        metrics[split] = split_metrics(frame, threshold)
        predictions.append(frame)
    test = predictions[-1]
    write_csv(pd.concat(predictions), OUT / "predictions.csv")
    write_csv(roc_points(test["label"], test["probability"]), OUT / "plots" / "roc.csv")
    write_csv(pr_points(test["label"], test["probability"]), OUT / "plots" / "pr.csv")
    write_csv(confusion_rows(test, metadata["classes"]), OUT / "plots" / "confusion.csv")
    write_json(OUT / "metrics.json", metrics)
    image = metrics["test"]["image"]
    log.info(f"evaluate: test AUC {image['auc']:.4f}, sensitivity {image['sensitivity']:.4f}, "
          f"specificity {image['specificity']:.4f} at threshold {threshold:.4f}")


if __name__ == "__main__":
    run_stage(main)
