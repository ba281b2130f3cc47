"""Figures for the report, drawn with matplotlib into PNG files."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ..storage import atomic_path  # noqa: E402

# Fixed metadata keeps PNG bytes identical between identical runs.
PNG_METADATA = {"Software": None}


def _save(figure, path: Path) -> None:
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=110, metadata=PNG_METADATA)
    plt.close(figure)


def training_curves(history: pd.DataFrame, best_epoch: int, path: Path) -> None:
    """Loss (train and validation) and validation AUC per epoch, best epoch marked."""
    figure, (loss_axis, auc_axis) = plt.subplots(1, 2, figsize=(9, 3.4))
    loss_axis.plot(history["epoch"], history["train_loss"], marker="o", label="train")
    loss_axis.plot(history["epoch"], history["val_loss"], marker="o", label="validation")
    loss_axis.set(xlabel="epoch", ylabel="loss", title="Loss")
    loss_axis.legend()
    auc_axis.plot(history["epoch"], history["val_auc"], marker="o", color="tab:green")
    auc_axis.set(xlabel="epoch", ylabel="ROC-AUC", title="Validation AUC", ylim=(0, 1))
    for axis in (loss_axis, auc_axis):
        axis.axvline(best_epoch, color="grey", linestyle="--", linewidth=1)
        axis.grid(alpha=0.3)
    _save(figure, path)


def roc_figure(roc: pd.DataFrame, auc: float | None, operating_point: tuple[float, float], path: Path) -> None:
    figure, axis = plt.subplots(figsize=(4.2, 4))
    axis.plot(roc["fpr"], roc["tpr"], label=f"AUC {auc:.3f}" if auc is not None else "AUC n/a")
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axis.plot(*operating_point, "o", color="tab:red", label="threshold (from validation)")
    axis.set(xlabel="1 - specificity", ylabel="sensitivity", title="ROC, test images", xlim=(0, 1), ylim=(0, 1.01))
    axis.legend(loc="lower right")
    axis.grid(alpha=0.3)
    _save(figure, path)


def pr_figure(pr: pd.DataFrame, prevalence: float, path: Path) -> None:
    figure, axis = plt.subplots(figsize=(4.2, 4))
    axis.plot(pr["recall"], pr["precision"])
    axis.axhline(prevalence, color="grey", linestyle=":", linewidth=1, label=f"prevalence {prevalence:.2f}")
    axis.set(xlabel="recall (sensitivity)", ylabel="precision", title="Precision-recall, test images",
             xlim=(0, 1), ylim=(0, 1.01))
    axis.legend(loc="lower left")
    axis.grid(alpha=0.3)
    _save(figure, path)


def confusion_figure(counts: dict, classes: list[str], path: Path) -> None:
    """2 x 2 confusion matrix (rows actual, columns predicted) from tp/fp/tn/fn."""
    matrix = [[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]]
    figure, axis = plt.subplots(figsize=(3.8, 3.4))
    axis.imshow(matrix, cmap="Blues")
    for row in range(2):
        for column in range(2):
            axis.text(column, row, str(matrix[row][column]), ha="center", va="center", fontsize=14)
    axis.set(xticks=[0, 1], yticks=[0, 1], xticklabels=classes, yticklabels=classes,
             xlabel="predicted", ylabel="actual", title="Confusion, test images")
    _save(figure, path)
