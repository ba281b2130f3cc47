"""A run's outputs made by hand, as the stages write them, for the report's and the model card's unit tests.

Each builder returns a fresh dict that a test may change before `write_run` lays it out where the report stage
reads it; the numbers are distinct so that an assertion can name the one it expects.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from fracture.reporting.content import RunOutputs

BINARY = {"auc": 0.85, "pr_auc": 0.8, "accuracy": 0.75, "sensitivity": 0.7, "specificity": 0.8, "precision": 0.65,
          "f1": 0.67, "kappa": 0.45}


def binary_result(n: int, positives: int, ci: bool = True, **values) -> dict:
    """An evaluate result of the fracture task; with `ci`, each interval runs from 0.1 below the value to 0.05 above."""
    scores = {**BINARY, **values}
    result = {"n": n, "positives": positives, **scores}
    if ci:
        result["ci"] = {key: {"low": round(value - 0.1, 3), "high": round(value + 0.05, 3)}
                        for key, value in scores.items() if value is not None}
    return result


def params(source: str = "mura", task: str = "fracture") -> dict:
    """The params the report and the card read."""
    return {"data": {"source": source}, "model": {"arch": "resnet18", "pretrained": True, "task": task},
            "train": {"threshold": "youden"}, "evaluate": {"ci_level": 0.95, "bootstrap_resamples": 1000}}


def filter_report() -> dict:
    return {"images_in": 900, "images_in_regions": 600, "images_kept": 590, "regions": ["hand", "leg"],
            "rejected": {"blank": 0, "duplicate": 7, "too_small": 3}}


def _split_counts(images: int, patients: int, abnormal: int, hand: int) -> dict:
    """One split's counts, `hand` of its images (half of them fractured) being hands and the rest legs."""
    return {"images": images, "patients": patients, "images_per_patient": round(images / patients, 4),
            "studies": patients + 10, "normal": images - abnormal, "abnormal": abnormal,
            "by_region": {"hand": {"abnormal": hand // 2, "normal": hand - hand // 2},
                          "leg": {"abnormal": abnormal - hand // 2, "normal": images - abnormal - hand + hand // 2}}}


def split_report() -> dict:
    return {"grouping": {"description": "patients", "has_studies": True, "kinds": {"patient": 590},
                         "unit": "patients"},
            "leakage": {"duplicates_crossing": 0, "patients_crossing": 0, "studies_crossing": 0},
            "official_test": True,
            "shortcuts": {"min_auc": 0.55, "min_cases": 10, "covariates": {}},
            "splits": {"train": _split_counts(350, 100, 140, 150), "val": _split_counts(120, 35, 48, 50),
                       "test": _split_counts(120, 34, 48, 60)}}


def enhance_report() -> dict:
    def scores(psnr: float, ssim: float) -> dict:
        return {"psnr": {"count": 40, "identical": 0, "mean": psnr, "std": 1.25},
                "ssim": {"count": 40, "identical": 0, "mean": ssim, "std": 0.02}}

    return {"image_size": 224, "fit": "letterbox", "filters": ["clahe", "median"], "scored_images": 40,
            "chain": {"step1_clahe": scores(18.0, 0.825), "step2_median": scores(17.5, 0.81)},
            "alone": {"clahe": scores(18.0, 0.825), "median": scores(35.5, 0.96)}}


def train_report() -> dict:
    return {"best_epoch": 7, "epochs_run": 9, "stopped_early": True, "val_output_spread": 0.25,
            "threshold": 0.354, "study_threshold": 0.38}


def estimate(value: float, low: float, high: float, method: str = "bootstrap") -> dict:
    return {"value": value, "low": low, "high": high, "method": method}


def localisation() -> dict:
    """Grad-CAM against the annotations: 30 annotated fractured test images, 18 of them true positives."""
    def scores(images: int, groups: int) -> dict:
        return {"images": images, "groups": groups, "hit": estimate(0.6, 0.45, 0.75),
                "chance_hit": estimate(0.2, 0.1, 0.3), "mass_inside": estimate(0.33, 0.27, 0.39),
                "chance_mass_inside": estimate(0.13, 0.1, 0.16), "outline_share": estimate(0.09, 0.07, 0.1),
                "peak_in_padding": estimate(0.0, 0.0, 0.11, "wilson"),
                "peak_at_film_edge": estimate(0.0, 0.0, 0.11, "wilson")}

    return {"tolerance_px": 4, "annotated": scores(30, 20), "true_positives": scores(18, 14)}


def fracture_metrics() -> dict:
    """The evaluate stage's metrics of a fracture model on two regions, with studies."""
    return {"task": "fracture", "threshold": 0.354, "study_threshold": 0.38, "threshold_method": "youden",
            "target_sensitivity": None, "has_studies": True,
            "val": {"image": binary_result(120, 48, ci=False, sensitivity=0.78, specificity=0.893),
                    "study": binary_result(45, 20, ci=False, sensitivity=0.839, specificity=0.912)},
            "test": {"image": {**binary_result(120, 48), "ece": 0.065}, "study": binary_result(44, 18, auc=0.884)},
            "test_by_region": {"hand": binary_result(60, 30, auc=0.71), "leg": binary_result(60, 18, auc=0.93)},
            "localisation": localisation(),
            "test_by_subgroup": {}, "shortcuts": {"found": [], "without": None}}


REGIONS = ["elbow", "hand", "shoulder"]


def region_metrics() -> dict:
    """The evaluate stage's metrics of a model that names the body region."""
    per_class = {name: {"n": 40, "sensitivity": 0.9, "precision": 0.8, "f1": 0.85, "auc": 0.95} for name in REGIONS}
    image = {"n": 120, "accuracy": 0.8, "balanced_accuracy": 0.79, "macro_f1": 0.78, "kappa": 0.7, "auc": 0.93,
             "per_class": per_class, "ece": 0.05,
             "ci": {"accuracy": {"low": 0.72, "high": 0.87}, "auc": {"low": 0.9, "high": 0.96}}}
    return {"task": "region", "threshold": None, "study_threshold": None, "threshold_method": "youden",
            "target_sensitivity": None, "has_studies": False,
            "val": {"image": {key: value for key, value in image.items() if key != "ci"}},
            "test": {"image": image}, "test_by_region": {}, "localisation": None}


def _write_json(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))


def _write_csv(path: Path, columns: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(columns).to_csv(path, index=False, sep="\t" if path.suffix == ".tsv" else ",")


def write_run(reports: Path, evaluation: dict | None = None, split: dict | None = None, train: dict | None = None,
              filtered: dict | None = None, enhance: dict | None = None) -> RunOutputs:
    """The files the report stage reads under `reports`, each from its builder unless given."""
    evaluation = evaluation or fracture_metrics()
    for name, content in (("eval/metrics.json", evaluation), ("split.json", split or split_report()),
                          ("train/metrics.json", train or train_report()),
                          ("filter.json", filtered or filter_report()),
                          ("enhance/metrics.json", enhance or enhance_report())):
        _write_json(reports / name, content)
    curves = reports / "train/plots/metrics"
    for file, column, values in (("train/loss.tsv", "loss", [0.7, 0.5, 0.4]), ("val/loss.tsv", "loss", [0.8, 0.6, 0.5]),
                                 ("val/auc.tsv", "auc", [0.6, 0.7, 0.8])):
        _write_csv(curves / file, {"step": [0, 1, 2], column: values})
    classes = ["normal", "abnormal"] if evaluation["task"] == "fracture" else REGIONS
    plots = reports / "eval/plots"
    _write_csv(plots / "roc.csv", {"fpr": [0, 0.2, 1], "tpr": [0, 0.7, 1], "threshold": [1, 0.5, 0]})
    _write_csv(plots / "pr.csv", {"recall": [1, 0.7, 0], "precision": [0.33, 0.65, 1]})
    _write_csv(plots / "calibration.csv", {"bin": [0, 1], "lower": [0, 0.5], "upper": [0.5, 1], "count": [80, 40],
                                           "mean_predicted": [0.2, 0.7], "observed": [0.15, 0.75]})
    _write_csv(plots / "confusion.csv", {"actual": classes + classes[:1], "predicted": classes + classes[-1:]})
    return RunOutputs(reports)


def outside_set() -> dict:
    """An outside set's metrics.json (validate's): 40 hand films, half fractured, in groups without studies."""
    return {"data": {"name": "clinic", "source": "folder", "path": "/data/clinic", "regions": ["hand"],
                     "filter": {"images_in": 50, "images_in_regions": 45, "images_kept": 40, "rejected": {"blank": 2}},
                     "images": 40, "fractured": 20, "prevalence": 0.5,
                     "by_region": {"hand": {"abnormal": 20, "normal": 20}},
                     "grouping": {"kinds": {"group": 40}, "unit": "groups", "description": "groups"}},
            "threshold": 0.354, "study_threshold": 0.38, "has_studies": False,
            "image": binary_result(40, 20, auc=0.66), "by_region": {}, "localisation": None,
            "shortcuts": {"found": [], "without": None}}
