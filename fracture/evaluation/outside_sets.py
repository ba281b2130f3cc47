"""Outside labelled sets: read as the pipeline reads its data, measured as it measures its test split.

A model's own test split is drawn from the data it was developed on; a
reader of a paper wants to know how it does on films from elsewhere. Each
set in `evaluate.external` (and the set given to `python -m fracture
validate`) is read by the same source parsers, screened by the quality rules
kept in the checkpoint (rejections counted), prepared by the checkpoint's
`Preprocessing`, scored at the thresholds frozen on validation and measured
by `measurement.measure`, with intervals over the set's own patient groups.
The set's covariates are checked for shortcuts on the set itself. A set that
shares an image (same sha256) with the model's training or validation
images is refused: it would not be outside.
"""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd
import torch

from fracture.core.errors import ParamError, UserError
from fracture.core.parallel import ordered_map, worker_count
from fracture.core.params import Section
from fracture.core.storage import command_folder, refuse_foreign, write_csv, write_json
from fracture.data.enhance import EnhanceConfig, placed_annotations, process_image
from fracture.data.filter import FilterConfig, apply_filter
from fracture.data.grouping import grouping_summary, has_studies
from fracture.data.manifest import label_counts
from fracture.data.sources import SOURCES, DataConfig, acquire
from fracture.data.split import split_config
from fracture.evaluation.measurement import LabelledSet, measure
from fracture.evaluation.scoring import EvaluateConfig, Task, evaluate_config
from fracture.evaluation.shortcuts import findings, shortcut_check
from fracture.imaging.screening import QualityRules
from fracture.inference.checkpoint import CheckpointMetadata
from fracture.inference.loaded_model import LoadedModel

log = logging.getLogger(__name__)
EXTERNAL_SOURCES = tuple(source for source in SOURCES if source != "synthetic")
SPEC_KEYS = ("source", "path", "regions")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
SPLIT = "external"


@dataclass(frozen=True)
class ExternalSet:
    """A named outside set: its source parser, where its files are, the regions to keep (`all` for every one)."""

    name: str
    source: str
    path: str
    regions: tuple[str, ...] = ("all",)


def checked_name(name, where: str) -> str:
    """A set's name, which becomes a folder name."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise UserError(f"{where}: the set name {name!r} becomes a folder name; use letters, digits, '_', '.', '-'")
    return name


def _checked(name, spec) -> ExternalSet:
    key = f"evaluate.external.{name}"
    checked_name(name, f"params.yaml: {key}")
    if not isinstance(spec, dict):
        raise ParamError(key, spec, "expected {source: ..., path: ..., regions: [...]}, regions optional")
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise ParamError(f"{key}.{unknown[0]}", spec[unknown[0]], f"a set knows only {', '.join(SPEC_KEYS)}")
    source, path, regions = spec.get("source"), spec.get("path"), spec.get("regions", ["all"])
    if source not in EXTERNAL_SOURCES:
        raise ParamError(f"{key}.source", source, f"choose from: {', '.join(EXTERNAL_SOURCES)}")
    if not isinstance(path, str) or not path or not Path(path).exists():
        raise ParamError(f"{key}.path", path, "give the set's folder, zip or file; it must exist")
    regions = [regions] if isinstance(regions, str) else regions
    if not isinstance(regions, list) or not regions or not all(isinstance(item, str) for item in regions):
        raise ParamError(f"{key}.regions", regions, "expected a list of regions, e.g. [hand], or [all]")
    return ExternalSet(name, source, path, tuple(region.lower() for region in regions))


def external_sets(params: dict) -> dict[str, ExternalSet]:
    """The `evaluate.external` sets by name, each checked."""
    section = Section(params, "evaluate")
    sets = section.values.get("external") or {}
    if not isinstance(sets, dict):
        raise section.fail("external", "expected a mapping of set names to {source, path, regions}, e.g. "
                                       "{hands: {source: folder, path: /data/hands}}")
    return {name: _checked(name, spec) for name, spec in sets.items()}


def refuse_overlap(kept: pd.DataFrame, metadata: CheckpointMetadata, name: str) -> None:
    """An outside set may share no image with those the model was trained or tuned on."""
    if metadata.trained_on is None:
        log.warning(f"external set {name}: the checkpoint does not list its training images (written before they "
                    f"were kept), so overlap with them cannot be checked")
        return
    shared = kept[kept["sha256"].isin(set(metadata.trained_on["sha256"]))]
    if len(shared):
        raise UserError(f"external set {name}: {len(shared)} of its {len(kept)} images are identical (sha256) to "
                        f"images the model was trained or tuned on, e.g. {shared['path'].iloc[0]}; an outside set "
                        f"must not overlap its training data: remove them or choose another set")


def _read_images(kept: pd.DataFrame, root: Path, metadata: CheckpointMetadata, workers: int):
    """The kept images as the model sees them, and each one's source shape (which places its annotations)."""
    config = EnhanceConfig(metadata.preprocessing, available={}, score_images=0, montage_images=1)
    size = metadata.preprocessing.image_size
    images = torch.empty((len(kept), 1, size, size), dtype=torch.uint8)
    shapes = []
    items = [(path, False) for path in kept["path"]]
    for row, (image, _, shape, unreadable) in enumerate(ordered_map(
            partial(process_image, image_root=root, config=config), items, workers, "preparing")):
        if unreadable:
            raise UserError(f"{items[row][0]} became unreadable after screening ({unreadable}); validate again")
        images[row, 0] = torch.from_numpy(image)
        shapes.append(shape)
    return images, shapes


def _data_summary(spec: ExternalSet, kept: pd.DataFrame, report: dict) -> dict:
    return {"name": spec.name, "source": spec.source, "path": spec.path, "regions": list(spec.regions),
            "filter": {key: report[key] for key in ("images_in", "images_in_regions", "images_kept")}
            | {"rejected": {reason: count for reason, count in report["rejected"].items() if count}},
            "images": len(kept), "fractured": int(kept["label"].sum()),
            "prevalence": float(kept["label"].mean()), "by_region": label_counts(kept),
            "grouping": grouping_summary(kept)}


def _rules(metadata: CheckpointMetadata) -> QualityRules:
    if metadata.quality is None:
        log.warning("the checkpoint keeps no quality rules (written before they were kept); images are not checked "
                    "for size or blankness")
        return QualityRules(min_size=1, min_std=0.0)
    return metadata.quality


def prepare(spec: ExternalSet, metadata: CheckpointMetadata, workers: int = 1):
    """(the set ready to measure, its rejected rows, its data summary), read through a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="fracture-external-") as work:
        root = Path(work)
        manifest, annotations = acquire(DataConfig(spec.source, spec.path, workers=workers), root)
        missing = sorted(set(spec.regions) - set(manifest["region"]) - {"all"})
        if missing:
            raise UserError(f"external set {spec.name}: it has no {', '.join(missing)} images; its regions are "
                            f"{', '.join(sorted(manifest['region'].unique()))} (or all)")
        kept, rejected, report = apply_filter(manifest, root, FilterConfig(list(spec.regions), _rules(metadata)),
                                              workers)
        if kept.empty or kept["label"].nunique() < 2:
            raise UserError(f"external set {spec.name}: {len(kept)} usable images, not both normal and fractured "
                            f"ones; an AUC needs both (rejections: {report['rejected']})")
        refuse_overlap(kept, metadata, spec.name)
        images, shapes = _read_images(kept, root, metadata, workers)
    rows = kept.assign(split=SPLIT)
    placed = placed_annotations(rows, shapes, annotations["images"], metadata.preprocessing)
    return (LabelledSet(images, rows, rows, placed, has_studies(rows)), rejected,
            _data_summary(spec, kept, report))


@dataclass(frozen=True)
class Settings:
    """How a set is measured: as evaluate measures the test split, with split's shortcut rule, on `workers`."""

    evaluate: EvaluateConfig
    shortcut_auc: float
    workers: int = 1

    @classmethod
    def of(cls, params: dict) -> "Settings":
        return cls(evaluate_config(params), split_config(params).shortcut_auc, worker_count(params))


def validate(model: LoadedModel, spec: ExternalSet, out: Path, settings: Settings) -> dict:
    """Measure the model on one outside set and write metrics.json, predictions.csv, rejected.csv and plots/ into
    `out` (replaced whole, only once all is done, and refused up front if it holds files validate did not write);
    return the metrics."""
    config, metadata = settings.evaluate, model.metadata
    if metadata.task != "fracture":
        raise UserError(f"{spec.name}: outside sets are validated for the fracture task; this model predicts "
                        f"{metadata.task}")
    refuse_foreign(out, "validate")  # before the set is read, not after
    labelled, rejected, data = prepare(spec, metadata, settings.workers)
    task = Task(metadata.task, metadata.classes, metadata.thresholds.image, metadata.thresholds.study)
    check = shortcut_check(labelled.rows, settings.shortcut_auc, config.seed, scored=slice(None))
    measured = measure(model, labelled, task, findings(check), config)
    metrics = {"data": data, "threshold": task.threshold, "study_threshold": task.study_threshold,
               "has_studies": labelled.studies, **measured.metrics["set"], "shortcut_check": check,
               **{key: value for key, value in measured.metrics.items() if key != "set"}}
    with command_folder(out, "validate") as staging:
        write_json(staging / "metrics.json", metrics)
        write_csv(measured.predictions, staging / "predictions.csv")
        write_csv(rejected, staging / "rejected.csv")
        for name, curve in measured.curves.items():
            write_csv(curve, staging / "plots" / f"{name}.csv")
    image = metrics["image"]
    log.info(f"external set {spec.name}: {data['images']} images ({data['fractured']} fractured), AUC "
             f"{image['auc']:.4f} [{image['ci']['auc']['low']:.4f}, {image['ci']['auc']['high']:.4f}]"
             if "ci" in image else f"external set {spec.name}: AUC {image['auc']:.4f}")
    return metrics
