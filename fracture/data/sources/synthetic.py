"""The default data source: synthetic radiographs written in MURA v1.1's layout.

Patients have one or two body regions, each with one to three studies of two
to four views, as in MURA. A positive study shows the same fracture in each of
its views (as far as the view lets it be seen); difficulty, exposure, noise,
pose, collimation and laterality markers vary film to film. Every image draws
its randomness from its own seed, so the data set is the same whatever the
order or the number of worker processes.

The output is read back by the MURA parser, so the default pipeline exercises
the same code path as the real study. Where each fracture lies is known by
construction, so its box is written as an annotator's COCO file, and every
model of the default pipeline is scored on where its Grad-CAM looks.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from fracture.core.parallel import ordered_map
from fracture.data.folder import DataFolder
from fracture.data.sources import anatomy, phantom

MURA_ROOT = "MURA-v1.1"
ANNOTATIONS_FILE = "annotations.json"  # the fracture boxes, COCO, beside the MURA folder
# MURA v1.1's share of studies per region.
REGION_WEIGHTS = {"wrist": 0.24, "shoulder": 0.21, "hand": 0.15, "finger": 0.14,
                  "elbow": 0.12, "forearm": 0.07, "humerus": 0.07}
VIEWS = ("frontal", "lateral", "oblique", "frontal")


@dataclass(frozen=True)
class SyntheticConfig:
    patients: int = 400
    image_size: int = 256
    abnormal_fraction: float = 0.4
    valid_fraction: float = 0.15
    seed: int = 0


@dataclass(frozen=True)
class StudyPlan:
    """One study to draw: who, where, which folder, how many views, broken or not."""

    patient: int
    region: str
    number: int
    split: str
    abnormal: bool
    views: int
    left: bool
    pediatric: bool

    @property
    def folder(self) -> str:
        outcome = "positive" if self.abnormal else "negative"
        return (f"{MURA_ROOT}/{self.split}/XR_{self.region.upper()}/patient{self.patient:05d}/"
                f"study{self.number}_{outcome}")


def plan_studies(config: SyntheticConfig) -> list[StudyPlan]:
    """Decide every patient's regions, studies, outcomes and views."""
    rng = np.random.default_rng([config.seed, 0])
    regions = list(REGION_WEIGHTS)
    weights = np.array(list(REGION_WEIGHTS.values()))
    n_valid = max(1, round(config.valid_fraction * config.patients))
    plans = []
    for patient in range(1, config.patients + 1):
        split = "valid" if patient > config.patients - n_valid else "train"
        left, pediatric = bool(rng.random() < 0.5), bool(rng.random() < 0.25)
        n_regions = 2 if rng.random() < 0.15 else 1
        for region in rng.choice(regions, size=n_regions, replace=False, p=weights / weights.sum()):
            n_studies = int(rng.choice([1, 2, 3], p=[0.75, 0.2, 0.05]))
            for number in range(1, n_studies + 1):
                plans.append(StudyPlan(patient, str(region), number, split,
                                       abnormal=bool(rng.random() < config.abnormal_fraction),
                                       views=int(rng.choice([2, 3, 4], p=[0.3, 0.5, 0.2])),
                                       left=left, pediatric=pediatric))
    return plans


def _fracture(layout: anatomy.Layout, rng: np.random.Generator) -> phantom.Break:
    """A fracture on one of the region's usual sites; `difficulty` near 1 is subtle.

    Half are displaced and half angulated (independently), some impacted; the
    harder a case, the thinner, shallower, shorter and less displaced its line.
    The subtlest are as thin and as faint as growth plates, so a plate is a
    real decoy and only the line's course (oblique, jagged, on the shaft) tells.
    """
    weights = np.array([site.weight for site in layout.fracture_sites])
    site = layout.fracture_sites[rng.choice(len(weights), p=weights / weights.sum())]
    difficulty = rng.random()
    ease = 1 - 0.7 * difficulty
    width = 0.005 + 0.007 * (1 - difficulty)
    displaced, angulated, impacted, complete = rng.random(4) < (0.5, 0.5, 0.3, 0.75)
    return phantom.Break(
        bone=site.bone,
        t=float(rng.uniform(*site.t_range)),
        angle=float(np.clip(rng.normal(math.pi / 2, 0.35), 0.8, 2.3)),
        width=width,
        depth=1.0 - 0.3 * difficulty,
        extent=1.0 if complete else float(rng.uniform(0.5, 0.9)),
        side=1 if rng.random() < 0.5 else -1,
        shift=float(rng.uniform(0.3, 1.0) * ease) if displaced else 0.0,
        angulation=float(rng.choice([-1, 1]) * rng.uniform(0.05, 0.25) * ease) if angulated else 0.0,
        jagged=float(rng.uniform(0.2, 0.6) * width),
        impaction=float(rng.uniform(0.2, 0.6)) if impacted else 0.0,
    )


def _growth_plates(layout: anatomy.Layout, rng: np.random.Generator) -> list[phantom.Break]:
    """A child's open physes: smooth transverse bands, as wide and deep as the subtlest fractures."""
    return [phantom.Break(bone, t, width=float(rng.uniform(0.003, 0.006)), depth=float(rng.uniform(0.4, 0.75)))
            for bone, t in layout.growth_plates]


def _exposure(plan: StudyPlan, height: int, rng: np.random.Generator) -> phantom.Exposure:
    collimated = rng.random() < 0.5
    return phantom.Exposure(
        dose=rng.uniform(0.35, 0.6),
        gamma=rng.uniform(0.8, 1.3),
        gain=rng.uniform(0.8, 1.0),
        background=rng.uniform(0.02, 0.1),
        blur=rng.uniform(0.5, 1.2) * height / 320,
        noise=rng.uniform(0.01, 0.045),
        heel=rng.uniform(0.0, 0.08),
        collimation=(rng.uniform(0, 0.1), rng.uniform(0, 0.08), 1 - rng.uniform(0, 0.1), 1 - rng.uniform(0, 0.08))
        if collimated else None,
        marker="L" if plan.left else "R",
        marker_corner=int(rng.integers(4)),
    )


@dataclass
class Film:
    """One view before rendering: what is drawn and how it is exposed; `rng` renders texture and noise."""

    scene: phantom.Scene
    height: int
    width: int
    pose: phantom.Pose
    exposure: phantom.Exposure
    rng: np.random.Generator
    fracture: phantom.Break | None = None

    def render(self) -> np.ndarray:
        return phantom.render(self.scene, self.height, self.width, self.pose, self.exposure, self.rng)

    def fracture_box(self) -> list[float] | None:
        """The fracture's box on this film, as an annotator would draw it (None: no fracture, or off the film)."""
        if self.fracture is None:
            return None
        return phantom.break_box(self.scene, self.fracture, self.height, self.width, self.pose)


def plan_films(plan: StudyPlan, config: SyntheticConfig) -> list[Film]:
    """The study's views, fully decided but not rendered.

    Everything but the fracture comes from random streams that do not depend
    on the label, so normal and abnormal studies differ in the fracture alone.
    """
    region_index = anatomy.REGIONS.index(plan.region)
    study_rng = np.random.default_rng([config.seed, 1, plan.patient, region_index, plan.number])
    body_seed = int(study_rng.integers(2**31))
    plate_seed = int(study_rng.integers(2**31))
    fracture = None
    if plan.abnormal:
        fracture = _fracture(anatomy.layout(plan.region, "frontal", np.random.default_rng(body_seed)), study_rng)
    films = []
    for view_index in range(plan.views):
        rng = np.random.default_rng([config.seed, 2, plan.patient, region_index, plan.number, view_index])
        layout = anatomy.layout(plan.region, VIEWS[view_index], np.random.default_rng(body_seed))
        plates = _growth_plates(layout, np.random.default_rng(plate_seed)) if plan.pediatric else []
        layout.scene.breaks = plates + ([fracture] if fracture is not None else [])
        height = config.image_size
        width = int(round(height * layout.aspect * rng.uniform(0.9, 1.1)))
        pose = phantom.Pose(rotation=float(rng.normal(0, 0.12)), zoom=float(rng.uniform(0.85, 1.15)),
                            offset=tuple(rng.normal(0, 0.03, size=2)), mirror=plan.left)
        films.append(Film(layout.scene, height, width, pose, _exposure(plan, height, rng), rng, fracture))
    return films


def draw_study(plan: StudyPlan, config: SyntheticConfig) -> list[np.ndarray]:
    """The study's views as 8-bit images."""
    return [film.render() for film in plan_films(plan, config)]


def _write_study(args: tuple[StudyPlan, SyntheticConfig, Path]) -> list[tuple[str, tuple[int, int], list | None]]:
    """Each view's path, shape and fracture box, once written."""
    plan, config, root = args
    folder = root / plan.folder
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for index, film in enumerate(plan_films(plan, config), start=1):
        image = film.render()
        Image.fromarray(image).save(folder / f"image{index}.png", compress_level=1)
        written.append((f"{plan.folder}/image{index}.png", image.shape, film.fracture_box()))
    return written


def _coco(views: list[tuple[str, tuple[int, int], list | None]]) -> dict:
    """The fracture boxes as COCO, as an annotator's file would give them (box only, no outline)."""
    boxed = [(path, shape, box) for path, shape, box in views if box is not None]
    return {"images": [{"id": index, "file_name": path, "height": shape[0], "width": shape[1]}
                       for index, (path, shape, _) in enumerate(boxed, start=1)],
            "annotations": [{"id": index, "image_id": index, "category_id": 1, "bbox": box, "segmentation": []}
                            for index, (_, _, box) in enumerate(boxed, start=1)],
            "categories": [{"id": 1, "name": "fracture"}]}


def generate(config: SyntheticConfig, root: Path, workers: int = 1) -> Path:
    """Write the data set under `root` in MURA v1.1's layout, with the fracture boxes in `annotations.json`
    beside it; return its MURA folder."""
    plans = plan_studies(config)
    written = list(ordered_map(_write_study, [(plan, config, root) for plan in plans], workers,
                               "synthetic studies", unit="study"))
    for split in ("train", "valid"):
        studies = [(plan, views) for plan, views in zip(plans, written) if plan.split == split]
        (root / MURA_ROOT / f"{split}_image_paths.csv").write_text(
            "".join(f"{path}\n" for _, views in studies for path, _, _ in views))
        (root / MURA_ROOT / f"{split}_labeled_studies.csv").write_text(
            "".join(f"{plan.folder}/,{int(plan.abnormal)}\n" for plan, _ in studies))
    (root / ANNOTATIONS_FILE).write_text(json.dumps(_coco([view for views in written for view in views])))
    return root / MURA_ROOT


def synthetic_annotations(folder: DataFolder, manifest: pd.DataFrame) -> tuple[str, dict[str, str]] | None:
    """The boxes `generate` wrote, and their file names' image ids."""
    if not (folder.root / ANNOTATIONS_FILE).is_file():
        return None
    return ANNOTATIONS_FILE, dict(zip(manifest["path"], manifest["image_id"]))
