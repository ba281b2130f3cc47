"""What the report says: the run's data, enhancement, training and test results."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fracture.core.errors import UserError
from fracture.core.paths import EVAL_METRICS, REPORTS
from fracture.core.storage import read_json
from fracture.data.manifest import SPLITS
from fracture.evaluation.metrics import COLLAPSED_SPREAD
from fracture.reporting import figures
from fracture.reporting.document import Block, Figure, Heading, Paragraph, Table
from fracture.reporting.numbers import fmt, fmt_ci, wilson_mark, with_ci
from fracture.reporting.outside_tables import external_section
from fracture.reporting.subgroup_tables import subgroup_section

BINARY_ROWS = [("ROC-AUC", "auc"), ("PR-AUC", "pr_auc"), ("accuracy", "accuracy"), ("sensitivity", "sensitivity"),
               ("specificity", "specificity"), ("precision", "precision"), ("F1", "f1"), ("Cohen's kappa", "kappa")]
MULTICLASS_ROWS = [("macro ROC-AUC (one vs rest)", "auc"), ("accuracy", "accuracy"),
                   ("balanced accuracy", "balanced_accuracy"), ("macro F1", "macro_f1"), ("Cohen's kappa", "kappa")]
CAM_TITLES = {"true_positive": "fracture found", "false_positive": "false alarm", "false_negative": "fracture missed",
              "true_negative": "normal, called normal", "correct": "right region", "wrong": "wrong region",
              "annotated": "fracture, annotators' outline in green",
              "map": "fracture map, annotators' outline in green, its boxes in red"}


@dataclass(frozen=True)
class RunOutputs:
    """Where the earlier stages left what the report reads."""

    reports: Path = REPORTS

    def path(self, name: str) -> Path:
        path = self.reports / name
        if not path.is_file():
            raise UserError(f"{path} not found; run the earlier stages first (dvc repro)")
        return path

    def json(self, name: str) -> dict:
        return read_json(self.path(name))

    def evaluation(self) -> dict:
        """The evaluate stage's metrics."""
        return self.json(EVAL_METRICS.relative_to(REPORTS).as_posix())

    def training_history(self) -> pd.DataFrame:
        series = {"train_loss": "train/loss.tsv", "val_loss": "val/loss.tsv", "val_auc": "val/auc.tsv"}
        frames = []
        for name, file in series.items():
            frame = pd.read_csv(self.path(f"train/plots/metrics/{file}"), sep="\t")
            frames.append(frame.set_index("step").iloc[:, 0].rename(name))
        history = pd.concat(frames, axis=1).reset_index()
        return history.assign(epoch=history["step"] + 1)


def _data_section(params: dict, filtered: dict, split: dict) -> list[Block]:
    rejected = {reason: count for reason, count in filtered["rejected"].items() if count}
    rejected_text = ", ".join(f"{reason} {count}" for reason, count in rejected.items()) or "none"
    grouping, leakage = split["grouping"], split["leakage"]
    studies = grouping["has_studies"]
    header = ["split", "images", grouping["unit"], f"images per {_singular(grouping['unit'])}"]
    header += ["studies", "normal", "abnormal"] if studies else ["normal", "abnormal"]
    rows = []
    for name in SPLITS:
        counts = split["splits"][name]
        row = [name, str(counts["images"]), str(counts["patients"]), fmt(counts["images_per_patient"], 2)]
        row += ([str(counts["studies"])] if studies else []) + [str(counts["normal"]), str(counts["abnormal"])]
        rows.append(row)
    crossing = (f"{grouping['unit'].capitalize()} in more than one split: {leakage['patients_crossing']}; "
                + (f"studies: {leakage['studies_crossing']}; " if studies else "")
                + f"identical images: {leakage['duplicates_crossing']}.")
    return [
        Heading("Data"),
        Paragraph(f"Source: {params['data']['source']}. Regions kept: {', '.join(filtered['regions'])}. "
                  f"{filtered['images_in']} images in the source, {filtered['images_in_regions']} in those regions, "
                  f"{filtered['images_kept']} kept. Rejected: {rejected_text}."),
        Table(header, rows),
        Paragraph(f"Splits are grouped by {grouping['description']}, and stratified by label"
                  f"{'; the source’s official validation set is the test split' if split['official_test'] else ''}. "
                  + crossing
                  + ("" if studies else " The source has no studies of several views, so every result is per "
                                        "image.")),
    ]


def _singular(unit: str) -> str:
    """'patients' -> 'patient', 'pseudo-patient groups' -> 'pseudo-patient group'; mixed units -> 'group'."""
    return unit[:-1] if unit.endswith("s") else "group"


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
                  f"same image unfiltered, in floating point and over the image itself (not the letterbox padding), "
                  f"on {enhance['scored_images']} images "
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
    text = (f"Architecture {model['arch']} ({'ImageNet-pretrained' if model['pretrained'] else 'from scratch'}), "
            f"task {model['task']}, {train['epochs_run']} epochs run"
            f"{', stopped early' if train['stopped_early'] else ''}; the best epoch by validation was "
            f"{train['best_epoch']}.")
    if train.get("study_threshold") is not None:
        text += (f" The decision thresholds, {train['threshold']:.3f} per image and {train['study_threshold']:.3f} "
                 f"per study ({params['train']['threshold']}), were chosen on the validation split and frozen "
                 f"before testing.")
    elif "threshold" in train:
        text += (f" The decision threshold, {train['threshold']:.3f} per image ({params['train']['threshold']}), "
                 f"was chosen on the validation split and frozen before testing.")
    if train["val_output_spread"] < COLLAPSED_SPREAD:
        text += (f" Warning: this model did not learn. Its validation probabilities barely vary (standard "
                 f"deviation {train['val_output_spread']:.4f}), so every image gets nearly the same answer; try "
                 f"pretrained weights, a lower learning rate or more epochs.")
    return [Heading("Training"), Paragraph(text),
            Figure("figures/training_curves.png",
                   "Training and validation loss, validation ROC-AUC; dashed: best epoch")]


def _confusion_matrix(outputs: RunOutputs, classes: list[str]) -> list[list[int]]:
    rows = pd.read_csv(outputs.path("eval/plots/confusion.csv"))
    table = pd.crosstab(rows["actual"], rows["predicted"]).reindex(index=classes, columns=classes, fill_value=0)
    return table.to_numpy().tolist()


def _gradcam_sheet(outputs: RunOutputs, figure_dir: Path) -> list[Block]:
    folder = outputs.reports / "eval/gradcam"
    groups = {CAM_TITLES.get(name, name): sorted(folder.glob(f"{name}_*.png")) for name in CAM_TITLES}
    if not any(groups.values()):
        return []
    figures.image_sheet(groups, figure_dir / "gradcam.png")
    annotated = " Annotated fractured test films follow, the annotators' outlines in green." \
        if groups[CAM_TITLES["annotated"]] else ""
    return [Figure("figures/gradcam.png", "Grad-CAM of the most confident test examples of each outcome: red is "
                                          f"where the model's answer came from.{annotated}")]


def _localisation_section(localisation: dict | None, unit: str, source: str = "cam") -> list[Block]:
    """How often the model's Grad-CAM (or its fracture map) points at the annotated fracture, beside what a centred
    map scores."""
    if not localisation:
        return []
    heading, what = ("Where the model looks", "The fracture-class Grad-CAM") if source == "cam" else \
        ("Where the fracture map points", "The fracture map (its logits, the positive ones as its mass)")
    rows = []
    for name, title in (("annotated", "annotated fractured test images"),
                        ("true_positives", "of them, true positives")):
        scores = localisation[name]
        if not scores["images"]:
            continue
        keys = ("hit", "chance_hit", "mass_inside", "chance_mass_inside", "peak_in_padding", "peak_at_film_edge")
        # a key is missing where no map has positive mass: no share of it
        interval = {key: fmt_ci(scores[key]["value"], scores[key]["low"], scores[key]["high"])
                    + wilson_mark(scores[key]) if key in scores else "n/a" for key in keys}
        rows.append([f"{title} ({scores['images']} images, {scores['groups']} {unit})", interval["hit"],
                     interval["chance_hit"], interval["mass_inside"], interval["chance_mass_inside"],
                     fmt(scores["outline_share"]["value"]), interval["peak_in_padding"],
                     interval["peak_at_film_edge"]])
    return [Heading(heading, 3),
            Paragraph(f"{what} of every annotated fractured test image, in the square the "
                      f"model sees, against the annotators' boxes and outlines. Pointing game: the share of images "
                      f"whose map's maximum falls inside a box (allowing {localisation['tolerance_px']} pixels). "
                      f"Mass inside: the mean share of the map's positive mass inside the outlines; a map spread "
                      f"evenly scores the outlines' share of the image. A Gaussian centred on the square is the "
                      f"chance map. Intervals are over resamples of {unit}; (W) marks a Wilson interval, for "
                      f"a hit rate of 0 or 1 or over fewer than ten images. Where the maximum went instead: the "
                      f"share of maps peaking in the letterbox padding, and on the film's edge (inside it, within "
                      f"{2 * localisation['tolerance_px']} pixels of the border between film and padding or "
                      f"square). A model that ranks films well but points elsewhere is not seeing the fracture."),
            Table(["images", "pointing game", "chance: centred map", "mass inside outlines",
                   "chance: centred map", "outlines' share", "peak in padding", "peak on film's edge"], rows)]


def _detection_section(detection: dict | None, unit: str) -> list[Block]:
    """The fracture map's boxes scored as detections."""
    if not detection:
        return []
    keys = [("AP at IoU 0.5", "ap50"), ("AP at IoU 0.50:0.95", "ap50_95")] + [
        (f"FROC sensitivity at {rate:g} false positives per film", f"froc_{rate:g}")
        for rate in detection["false_positives_per_film"]]
    rows = [[label, fmt_ci(detection[key]["value"], detection[key]["low"], detection[key]["high"])]
            for label, key in keys if key in detection]
    return [Heading("The fracture map's boxes as detections", 3),
            Paragraph(f"Boxes on the map's peaks (each peak's extent, or the box its cell regressed with "
                      f"model.map_box: regressed), each scored by its peak (fracture/inference/map_boxes.py), on "
                      f"{detection['films']} test films whose truth is known "
                      f"({detection['fractured_films']} annotated fractured films with {detection['fractures']} "
                      f"boxes, and every normal film, where any box is a false positive); {detection['boxes']} boxes "
                      "in all. Average precision is "
                      f"COCO's (pycocotools); FROC counts a fracture found when a box's centre lies inside its "
                      f"box. Intervals are over resamples of {unit}; an AP of 0 (no box overlaps a fracture by "
                      f"half) gets the Wilson interval of the recall at IoU 0.5, which bounds it."),
            Table(["measure", "value"], rows)]


def _metric_table(test: dict, val: dict, binary: bool) -> tuple[list[str], list[list[str]]]:
    """Test metrics per image (and per study where there are studies) with intervals, and validation's."""
    levels = [level for level in ("image", "study") if level in test]
    header = ["metric"] + [f"test, per {level}" for level in levels] + ["validation, per image"]
    table = [["images / studies" if len(levels) == 2 else "images"]
             + [str(test[level]["n"]) for level in levels] + [str(val["image"]["n"])]]
    if binary:
        table.append(["abnormal"] + [str(test[level]["positives"]) for level in levels]
                     + [str(val["image"]["positives"])])
    table += [[label] + [with_ci(test[level], key) for level in levels] + [fmt(val["image"][key])]
              for label, key in (BINARY_ROWS if binary else MULTICLASS_ROWS)]
    table.append(["calibration error (ECE)", fmt(test["image"]["ece"])] + [""] * len(levels))
    return header, table


def _thresholds_text(evaluation: dict, val: dict) -> str:
    method = evaluation["threshold_method"]
    target = f" (target sensitivity {evaluation['target_sensitivity']:.2f})" if method == "sensitivity" else ""
    if evaluation.get("study_threshold") is None:
        return (f" The threshold was chosen on validation by {method}{target}, {evaluation['threshold']:.3f}, and "
                f"applied unchanged to test. At it, validation sensitivity was {fmt(val['image']['sensitivity'])} "
                f"and specificity {fmt(val['image']['specificity'])}.")
    return (f" The thresholds were chosen on validation by {method}{target}, {evaluation['threshold']:.3f} "
            f"for images and {evaluation['study_threshold']:.3f} for studies (a study's mean probability sits "
            f"below that of the view showing the fracture), and applied unchanged to test. At them, validation "
            f"sensitivity was {fmt(val['image']['sensitivity'])} per image and "
            f"{fmt(val['study']['sensitivity'])} per study, specificity {fmt(val['image']['specificity'])} "
            f"and {fmt(val['study']['specificity'])}.")


def _results_section(params: dict, evaluation: dict, grouping: dict, outputs: RunOutputs,
                     figure_dir: Path) -> list[Block]:
    binary = evaluation["task"] == "fracture"
    test, val = evaluation["test"], evaluation["val"]
    classes = ["normal", "abnormal"] if binary else list(test["image"]["per_class"])
    header, table = _metric_table(test, val, binary)
    settings = params["evaluate"]
    text = (f"Brackets: {settings['ci_level']:.0%} bootstrap intervals from {settings['bootstrap_resamples']} "
            f"resamples of {grouping['description']}, since one patient's films are not independent; (W) marks "
            f"Wilson's interval, for a proportion of 0 or 1 or over fewer than ten images. ROC-AUC and "
            f"PR-AUC are computed on probabilities"
            + ("; a study's probability is the mean of its views'." if "study" in test else "."))
    if binary:
        text += _thresholds_text(evaluation, val)
    blocks = [Heading("Results"), Paragraph(text), Table(header, table)]
    if evaluation.get("test_by_region"):
        blocks += [Heading("By region", 3), Table(
            ["region", "images", "abnormal", "ROC-AUC", "sensitivity", "specificity"],
            [[region, str(m["n"]), str(m["positives"]), with_ci(m, "auc"), with_ci(m, "sensitivity"),
              with_ci(m, "specificity")] for region, m in evaluation["test_by_region"].items()])]
    if not binary:
        blocks += [Heading("By class", 3), Table(
            ["region", "images", "sensitivity", "precision", "F1", "ROC-AUC (one vs rest)"],
            [[name, str(m["n"]), fmt(m["sensitivity"]), fmt(m["precision"]), fmt(m["f1"]), fmt(m["auc"])]
             for name, m in test["image"]["per_class"].items()])]
    image = test["image"]
    operating_point = (1 - image["specificity"], image["sensitivity"]) if binary else None
    prevalence = image["positives"] / image["n"] if binary else 1 / len(classes)
    figures.roc_figure(pd.read_csv(outputs.path("eval/plots/roc.csv")), image["auc"], operating_point,
                       figure_dir / "roc.png")
    figures.pr_figure(pd.read_csv(outputs.path("eval/plots/pr.csv")), prevalence, figure_dir / "pr.png")
    figures.confusion_figure(_confusion_matrix(outputs, classes), classes, figure_dir / "confusion.png")
    figures.calibration_figure(pd.read_csv(outputs.path("eval/plots/calibration.csv")), image["ece"],
                               "P(abnormal)" if binary else "confidence", figure_dir / "calibration.png")
    curves = "" if binary else " (one vs rest, micro-averaged over regions)"
    return blocks + [
        Figure("figures/roc.png", f"ROC curve of the test images{curves}"
                                  + ("; red: the operating point of the frozen threshold" if binary else "")),
        Figure("figures/pr.png", f"Precision-recall curve of the test images{curves}"),
        Figure("figures/confusion.png", "Confusion matrix of the test images"),
        Figure("figures/calibration.png", "Reliability diagram of the test images"),
    ] + _gradcam_sheet(outputs, figure_dir) + _localisation_section(evaluation.get("localisation"), grouping["unit"]) \
        + _localisation_section(evaluation.get("map_localisation"), grouping["unit"], "map") \
        + _detection_section(evaluation.get("detection"), grouping["unit"])


def _results_and_subgroups(params: dict, evaluation: dict, split: dict, outputs: RunOutputs,
                           figure_dir: Path, external: dict[str, dict]) -> list[Block]:
    blocks = _results_section(params, evaluation, split["grouping"], outputs, figure_dir)
    if evaluation["task"] == "fracture":
        blocks += subgroup_section(evaluation, split.get("shortcuts", {}), split["grouping"]["unit"])
        blocks += external_section(evaluation, split, external)
    return blocks


def build_report(params: dict, outputs: RunOutputs, figure_dir: Path, external: dict[str, dict]) -> list[Block]:
    """All blocks of the report, `external` being each outside set's metrics; draws its figures into
    `figure_dir`."""
    blocks: list[Block] = [Heading("Fracture classification report", 1)]
    if params["data"]["source"] == "synthetic":
        blocks.append(Paragraph("These results are on synthetic phantom radiographs, the pipeline's offline "
                                "default. They show that the pipeline works; they say nothing about clinical "
                                "performance."))
    train, split = outputs.json("train/metrics.json"), outputs.json("split.json")
    return (blocks
            + _data_section(params, outputs.json("filter.json"), split)
            + _enhance_section(outputs.json("enhance/metrics.json"))
            + _training_section(params, train, outputs.training_history(), figure_dir)
            + _results_and_subgroups(params, outputs.evaluation(), split, outputs, figure_dir,
                                     external))
