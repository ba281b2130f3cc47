"""The enhance stage: resize, run the filter chain, score it, store arrays.

Scores compare each filtered image with the same image unfiltered (after
letterboxing), in float and over the image's own pixels, not the padding:
per step of the chain (cumulative) and, for comparison, every available
filter alone. The processed images go to one uint8 array in
manifest order, which training memory-maps instead of decoding files.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from fracture.core.errors import UserError
from fracture.core.parallel import ordered_map
from fracture.core.params import Section
from fracture.imaging.filters import FILTER_NAMES, FITS, MAX_FILTERS, OPTION_BOUNDS, Box, FilterStep
from fracture.imaging.io import UnreadableImage, read_grayscale
from fracture.imaging.preprocessing import IMAGE_SIZE, Preprocessing
from fracture.imaging.quality import psnr, ssim, summarize


@dataclass(frozen=True)
class EnhanceConfig:
    preprocessing: Preprocessing
    available: dict[str, FilterStep]
    score_images: int
    montage_images: int


def enhance_config(params: dict) -> EnhanceConfig:
    section = Section(params, "enhance")
    names = section.choice_list("filters", FILTER_NAMES)
    if len(names) > MAX_FILTERS:
        raise section.fail("filters", f"expected at most {MAX_FILTERS} filters")
    available = {name: FilterStep(name, {key: bound.read(section.section(name), key) for key, bound in bounds.items()})
                 for name, bounds in OPTION_BOUNDS.items() if name != "none"}
    return EnhanceConfig(
        preprocessing=Preprocessing(IMAGE_SIZE.read(section, "image_size"),
                                    tuple(available[name] for name in names if name != "none"),
                                    fit=section.choice("fit", FITS)),
        available=available,
        score_images=section.integer("score_images", minimum=0),
        montage_images=section.integer("montage_images", minimum=1, maximum=16),
    )


def step_names(steps) -> list[str]:
    """Keys for the chain's steps, numbered so that a filter used twice stays distinct."""
    return [f"step{number}_{step.name}" for number, step in enumerate(steps, start=1)]


def _scored_rows(count: int, limit: int) -> set[int]:
    """Which rows to score: all, or `limit` spread evenly over the manifest."""
    if limit == 0 or limit >= count:
        return set(range(count))
    return set(np.linspace(0, count - 1, limit).round().astype(int).tolist())


def _score(original: np.ndarray, filtered: np.ndarray, box: Box) -> tuple[float, float]:
    """PSNR and SSIM over the image itself: the letterbox padding is no part of it."""
    return psnr(box.crop(original), box.crop(filtered)), ssim(box.crop(original), box.crop(filtered))


def process_image(item: tuple[str, bool], image_root: Path, config: EnhanceConfig):
    """One image: (its processed square, its scores by key, its source shape, '') or (None, {}, None, reason it is
    unreadable)."""
    path, score = item
    try:
        source = read_grayscale(image_root / path)
        (original, *outputs), box = config.preprocessing.steps(source)
    except UnreadableImage as error:
        return None, {}, None, error.reason
    scores = {}
    if score:
        alone = [(f"alone_{name}", step.apply(original)) for name, step in config.available.items()]
        steps = list(zip(step_names(config.preprocessing.filters), outputs))
        scores = {key: _score(original, filtered, box) for key, filtered in steps + alone}
    return (outputs[-1] if outputs else original), scores, source.shape, ""


def enhance(manifest: pd.DataFrame, image_root: Path, config: EnhanceConfig, images: np.ndarray,
            workers: int = 1) -> tuple[dict, list[tuple[int, int]]]:
    """Write the processed images into `images` (n x size x size, manifest order); return the quality report and
    each image's source shape (rows, columns), which places its annotations in the square.

    `images` is typically a memory-mapped .npy file, so the stage never holds
    a second copy of the data set in memory.
    """
    preprocessing = config.preprocessing
    scored = _scored_rows(len(manifest), config.score_images)
    chain_keys = step_names(preprocessing.filters)
    scores = {key: {"psnr": [], "ssim": []} for key in chain_keys + [f"alone_{n}" for n in config.available]}
    items = [(path, row in scored) for row, path in enumerate(manifest["path"])]
    results = ordered_map(partial(process_image, image_root=image_root, config=config), items, workers, "enhancing")
    shapes = []
    for row, (image, image_scores, shape, unreadable) in enumerate(results):
        if unreadable:
            raise UserError(f"{items[row][0]} became unreadable after filtering ({unreadable}); rerun dvc repro")
        images[row] = image
        shapes.append(shape)
        for key, (image_psnr, image_ssim) in image_scores.items():
            scores[key]["psnr"].append(image_psnr)
            scores[key]["ssim"].append(image_ssim)
    return {
        "image_size": preprocessing.image_size,
        "fit": preprocessing.fit,
        "filters": [step.name for step in preprocessing.filters] or ["none"],
        "scored_images": len(scored),
        "scored_region": "image content (letterbox padding excluded)",
        "chain": {key: {metric: summarize(scores[key][metric]) for metric in ("psnr", "ssim")} for key in chain_keys},
        "alone": {name: {metric: summarize(scores[f"alone_{name}"][metric]) for metric in ("psnr", "ssim")}
                  for name in config.available},
    }, shapes


def placed_annotations(manifest: pd.DataFrame, shapes: list[tuple[int, int]], annotations: dict,
                       preprocessing) -> dict[str, list[dict]]:
    """The annotations of the images that reached this stage, in model-input pixels, by image id."""
    return {image_id: preprocessing.place(shape, annotations[image_id])
            for image_id, shape in zip(manifest["image_id"], shapes) if image_id in annotations}


def montage_rows(manifest: pd.DataFrame, image_root: Path, config: EnhanceConfig):
    """A few train images, half abnormal, each unfiltered and after every step."""
    train = manifest[manifest["split"] == "train"]
    per_class = max(1, config.montage_images // 2)
    picks = pd.concat([train[train["label"] == label].head(per_class) for label in (0, 1)])
    rows, titles = [], []
    for _, item in picks.iterrows():
        rows.append(config.preprocessing.steps(read_grayscale(image_root / item["path"]))[0])
        titles.append(f"{item['region']} {'abnormal' if item['label'] else 'normal'}")
    columns = ["unfiltered"] + [step.name for step in config.preprocessing.filters]
    return rows, columns, titles
