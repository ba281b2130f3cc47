"""Figures for the report, drawn with matplotlib into PNG files."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from fracture.core.storage import atomic_path  # noqa: E402

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


def roc_figure(roc: pd.DataFrame, auc: float | None, operating_point: tuple[float, float] | None,
               path: Path) -> None:
    figure, axis = plt.subplots(figsize=(4.2, 4))
    axis.plot(roc["fpr"], roc["tpr"], label=f"AUC {auc:.3f}" if auc is not None else "AUC n/a")
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    if operating_point is not None:
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


def confusion_figure(matrix: list[list[int]], classes: list[str], path: Path) -> None:
    """Confusion matrix, rows actual and columns predicted."""
    size = max(3.8, 0.7 * len(classes) + 2)
    figure, axis = plt.subplots(figsize=(size, size * 0.9))
    axis.imshow(matrix, cmap="Blues")
    for row, counts in enumerate(matrix):
        for column, count in enumerate(counts):
            axis.text(column, row, str(count), ha="center", va="center", fontsize=12)
    ticks = list(range(len(classes)))
    axis.set(xticks=ticks, yticks=ticks, xticklabels=classes, yticklabels=classes,
             xlabel="predicted", ylabel="actual", title="Confusion, test images")
    plt.setp(axis.get_xticklabels(), rotation=30, ha="right")
    _save(figure, path)


def calibration_figure(table: pd.DataFrame, ece: float | None, label: str, path: Path) -> None:
    """Reliability diagram: observed frequency against mean predicted probability per bin."""
    filled = table[table["count"] > 0]
    figure, axis = plt.subplots(figsize=(4.2, 4))
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfect calibration")
    axis.plot(filled["mean_predicted"], filled["observed"], marker="o",
              label=f"ECE {ece:.3f}" if ece is not None else "ECE n/a")
    axis.bar((filled["lower"] + filled["upper"]) / 2, filled["count"] / filled["count"].sum(), width=0.08,
             alpha=0.2, color="tab:blue", label="share of images")
    axis.set(xlabel=f"mean predicted {label}", ylabel="observed frequency", title="Calibration, test images",
             xlim=(0, 1), ylim=(0, 1.01))
    axis.legend(loc="upper left", fontsize=8)
    axis.grid(alpha=0.3)
    _save(figure, path)


def image_sheet(images: dict[str, list[Path]], path: Path) -> None:
    """A grid of PNGs: one row per title, e.g. Grad-CAM overlays per outcome."""
    rows = [(title, files) for title, files in images.items() if files]
    columns = max(len(files) for _, files in rows)
    figure, axes = plt.subplots(len(rows), columns, figsize=(2.4 * columns, 2.5 * len(rows)), squeeze=False)
    for axis_row, (title, files) in zip(axes, rows):
        for column, axis in enumerate(axis_row):
            axis.axis("off")
            if column < len(files):
                axis.imshow(plt.imread(files[column]))
                axis.set_title(title.replace("_", " "), fontsize=9)
    _save(figure, path)


def roc_overlay(curves: dict[str, pd.DataFrame], path: Path) -> None:
    """Test ROC curves of several models on one set of axes; `curves` maps a legend label to fpr/tpr."""
    figure, axis = plt.subplots(figsize=(6.4, 5.2))
    for label, roc in curves.items():
        axis.plot(roc["fpr"], roc["tpr"], label=label, linewidth=1.3)
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axis.set(xlabel="1 - specificity", ylabel="sensitivity", title="ROC, test images", xlim=(0, 1), ylim=(0, 1.01))
    axis.legend(loc="lower right", fontsize=7)
    axis.grid(alpha=0.3)
    _save(figure, path)


def forest_plot(rows: list[tuple[str, float, float, float]], xlabel: str, path: Path) -> None:
    """Differences with their intervals, one line per (label, delta, low, high); zero is no difference."""
    figure, axis = plt.subplots(figsize=(6.4, 0.9 + 0.42 * len(rows)))
    for position, (label, delta, low, high) in enumerate(reversed(rows)):
        axis.errorbar(delta, position, xerr=[[delta - low], [high - delta]], fmt="o", color="tab:blue", capsize=3)
    axis.axvline(0, color="grey", linestyle=":", linewidth=1)
    axis.set_yticks(range(len(rows)), [label for label, *_ in reversed(rows)], fontsize=8)
    axis.set(xlabel=xlabel, title="Paired differences")
    axis.grid(alpha=0.3, axis="x")
    _save(figure, path)
