"""What the report says: the run's data, enhancement, training and test results."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import UserError
from ..manifest import SPLITS
from ..storage import read_json
from . import figures
from .document import Block, Figure, Heading, Paragraph, Table

METRIC_ROWS = [("ROC-AUC", "auc"), ("accuracy", "accuracy"), ("sensitivity", "sensitivity"),
               ("specificity", "specificity"), ("precision", "precision"), ("F1", "f1"), ("Cohen's kappa", "kappa")]


@dataclass(frozen=True)
class RunOutputs:
    """Where the earlier stages left what the report reads."""

    reports: Path = Path("reports")

    def path(self, name: str) -> Path:
        path = self.reports / name
        if not path.is_file():
            raise UserError(f"{path} not found; run the earlier stages first (dvc repro)")
        return path

    def json(self, name: str) -> dict:
        return read_json(self.path(name))

    def training_history(self) -> pd.DataFrame:
        series = {"train_loss": "train/loss.tsv", "val_loss": "val/loss.tsv", "val_auc": "val/auc.tsv"}
        frames = []
        for name, file in series.items():
            frame = pd.read_csv(self.path(f"train/plots/metrics/{file}"), sep="\t")
            frames.append(frame.set_index("step").iloc[:, 0].rename(name))
        history = pd.concat(frames, axis=1).reset_index()
        return history.assign(epoch=history["step"] + 1)


def fmt(value, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _data_section(params: dict, filtered: dict, split: dict) -> list[Block]:
    rejected = {reason: count for reason, count in filtered["rejected"].items() if count}
    rejected_text = ", ".join(f"{reason} {count}" for reason, count in rejected.items()) or "none"
    rows = [[name, str(s["images"]), str(s["patients"]), str(s["studies"]), str(s["normal"]), str(s["abnormal"])]
            for name, s in ((name, split["splits"][name]) for name in SPLITS)]
    leakage = split["leakage"]
    return [
        Heading("Data"),
        Paragraph(f"Source: {params['data']['source']}. Regions kept: {', '.join(filtered['regions'])}. "
                  f"{filtered['images_in']} images in the source, {filtered['images_in_regions']} in those regions, "
                  f"{filtered['images_kept']} kept. Rejected: {rejected_text}."),
        Table(["split", "images", "patients", "studies", "normal", "abnormal"], rows),
        Paragraph(f"Splits are grouped by patient and stratified by label"
                  f"{'; the source’s official validation set is the test split' if split['official_test'] else ''}. "
                  f"Patients in more than one split: {leakage['patients_crossing']}; studies: "
                  f"{leakage['studies_crossing']}; identical images: {leakage['duplicates_crossing']}."),
    ]


def _score_cell(summary: dict) -> str:
    if "mean" not in summary:
        return "identical"
    return f"{summary['mean']:.3f} ± {summary['std']:.3f}"


def _enhance_section(enhance: dict) -> list[Block]:
    chain = [[key.split("_", 1)[1] + f" (step {key[4:].split('_')[0]})", _score_cell(scores["psnr"]),
              _score_cell(scores["ssim"])] for key, scores in enhance["chain"].items()]
    alone = [[name, _score_cell(scores["psnr"]), _score_cell(scores["ssim"])]
             for name, scores in enhance["alone"].items()]
    blocks = [
        Heading("Enhancement"),
        Paragraph(f"Images are letterboxed to {enhance['image_size']} px, then filtered by: "
                  f"{' → '.join(enhance['filters'])}. PSNR (dB) and SSIM compare each filtered image with the "
                  f"same image unfiltered, in floating point, over {enhance['scored_images']} images "
                  f"(mean ± standard deviation). Lower PSNR means the filter changed the image more; it is not "
                  f"a measure of diagnostic quality."),
    ]
    if chain:
        blocks.append(Table(["chain step (cumulative)", "PSNR dB", "SSIM"], chain))
    blocks += [Table(["each filter alone", "PSNR dB", "SSIM"], alone),
               Figure("enhance/montage.png", "Training images before and after each filter step")]
    return blocks


def _training_section(params: dict, train: dict, history: pd.DataFrame, figure_dir: Path) -> list[Block]:
    figures.training_curves(history, train["best_epoch"], figure_dir / "training_curves.png")
    model = params["model"]
    return [
        Heading("Training"),
        Paragraph(f"Architecture {model['arch']} ({'ImageNet-pretrained' if model['pretrained'] else 'from scratch'}), "
                  f"{train['epochs_run']} epochs run{', stopped early' if train['stopped_early'] else ''}; "
                  f"the best epoch by validation was {train['best_epoch']}. The decision threshold "
                  f"{train['threshold']:.3f} ({params['train']['threshold']}) was chosen on the validation split "
                  f"and frozen before testing."),
        Figure("figures/training_curves.png", "Training and validation loss, validation ROC-AUC; dashed: best epoch"),
    ]


def _results_section(evaluation: dict, outputs: RunOutputs, figure_dir: Path) -> list[Block]:
    test = evaluation["test"]
    rows = [[label] + [fmt(evaluation[split][level][key]) for split, level in
                       (("test", "image"), ("test", "study"), ("val", "image"))] for label, key in METRIC_ROWS]
    counts = [["images / studies", str(test["image"]["n"]), str(test["study"]["n"]), str(evaluation["val"]["image"]["n"])],
              ["abnormal", str(test["image"]["positives"]), str(test["study"]["positives"]),
               str(evaluation["val"]["image"]["positives"])]]
    image = test["image"]
    roc = pd.read_csv(outputs.path("eval/plots/roc.csv"))
    pr = pd.read_csv(outputs.path("eval/plots/pr.csv"))
    figures.roc_figure(roc, image["auc"], (1 - image["specificity"], image["sensitivity"]), figure_dir / "roc.png")
    figures.pr_figure(pr, image["positives"] / image["n"], figure_dir / "pr.png")
    figures.confusion_figure(image, ["normal", "abnormal"], figure_dir / "confusion.png")
    return [
        Heading("Results"),
        Paragraph(f"At the frozen threshold {evaluation['threshold']:.3f}. ROC-AUC is computed on probabilities. "
                  f"A study's probability is the mean of its views' probabilities."),
        Table(["metric", "test, per image", "test, per study", "validation, per image"], counts + rows),
        Figure("figures/roc.png", "ROC curve of the test images; red: the operating point of the frozen threshold"),
        Figure("figures/pr.png", "Precision-recall curve of the test images"),
        Figure("figures/confusion.png", "Confusion matrix of the test images at the frozen threshold"),
    ]


def build_report(params: dict, outputs: RunOutputs, figure_dir: Path) -> list[Block]:
    """All blocks of the report; draws its figures into `figure_dir`."""
    blocks: list[Block] = [Heading("Fracture classification report", 1)]
    if params["data"]["source"] == "synthetic":
        blocks.append(Paragraph("These results are on synthetic phantom radiographs, the pipeline's offline "
                                "default. They show that the pipeline works; they say nothing about clinical "
                                "performance."))
    train = outputs.json("train/metrics.json")
    return (blocks
            + _data_section(params, outputs.json("filter.json"), outputs.json("split.json"))
            + _enhance_section(outputs.json("enhance/metrics.json"))
            + _training_section(params, train, outputs.training_history(), figure_dir)
            + _results_section(outputs.json("eval/metrics.json"), outputs, figure_dir))
