"""Does the model look at the fracture? Its Grad-CAM, or its fracture map, scored against the annotators' boxes and
outlines.

Two scores per annotated fractured image, in the square the model sees:
- the pointing game (Zhang et al., 2018): whether the map's maximum falls
  inside a box, allowed `tolerance` pixels;
- the share of the map's positive mass that lies inside the outlines (boxes
  where an annotation has no outline), beside the outlines' share of the
  image, which is what a map spread evenly would score.
The same scores for a trivial map, a Gaussian centred on the square, say what
chance is. Where the film lies in the square is known, so two more rates say
where a missing map went instead: its maximum in the letterbox padding, or on
the film's edge (within two tolerances of it), where a padding border carries
the film's shape rather than its anatomy. Means come with intervals over resamples of patient groups, like
every other interval of the project; a hit rate of 0 or 1, or over fewer than
ten films, gets Wilson's interval instead (`intervals.needs_wilson`), since a
bootstrap interval of [0, 0] would claim certainty that 41 films cannot give.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.path import Path as PolygonPath

from fracture.data.annotations import outlines
from fracture.data.covariates import column_of, source_shape
from fracture.evaluation.intervals import patient_bootstrap
from fracture.imaging.filters import Box, content_box
from fracture.imaging.preprocessing import Preprocessing

TOLERANCE_FRACTION = 1 / 32  # of the square's side: 4 px at 128, 7 at 224
HIT_RATES = ("hit", "chance_hit", "peak_in_padding", "peak_at_film_edge")


def tolerance_pixels(size: int) -> int:
    return max(1, round(size * TOLERANCE_FRACTION))


def outline_mask(size: int, annotations: list[dict]) -> np.ndarray:
    """Pixels whose centre lies inside an annotation's outline (its box where it has none), in a size x size square.

    Coordinates are of pixel edges, as COCO's: pixel (row r, column c) spans
    c..c+1 and r..r+1, its centre at (c + 0.5, r + 0.5).
    """
    centres = np.stack(np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5), axis=-1).reshape(-1, 2)
    mask = np.zeros(size * size, dtype=bool)
    for annotation in annotations:
        for polygon in outlines(annotation):
            mask |= PolygonPath(np.reshape(polygon, (-1, 2))).contains_points(centres)
    return mask.reshape(size, size)


def pointing_hit(heat: np.ndarray, annotations: list[dict], tolerance: float) -> bool:
    """Whether the map's maximum (pixel centre) lies within `tolerance` pixels of a box."""
    row, column = np.unravel_index(int(np.argmax(heat)), heat.shape)
    x, y = column + 0.5, row + 0.5
    return any(box[0] - tolerance <= x <= box[0] + box[2] + tolerance and
               box[1] - tolerance <= y <= box[1] + box[3] + tolerance for box in (a["box"] for a in annotations))


def mass_inside(heat: np.ndarray, mask: np.ndarray) -> float:
    """Share of the map's positive mass inside `mask`; NaN for a map with no positive mass."""
    positive = np.clip(heat, 0, None)
    total = float(positive.sum())
    return float(positive[mask].sum()) / total if total > 0 else math.nan


def centred_gaussian(size: int) -> np.ndarray:
    """The chance map: a Gaussian on the square's centre, sigma a quarter of its side."""
    axis = np.arange(size) + 0.5 - size / 2
    return np.exp(-(axis[:, None] ** 2 + axis[None, :] ** 2) / (2 * (size / 4) ** 2))


def peak_place(heat: np.ndarray, content: Box, tolerance: float) -> dict[str, float]:
    """Whether the map's maximum lies in the padding around the film, or inside it within two tolerances of its
    edge."""
    row, column = np.unravel_index(int(np.argmax(heat)), heat.shape)
    x, y = column + 0.5, row + 0.5
    inside = content.left <= x <= content.left + content.width and content.top <= y <= content.top + content.height
    margin = min(x - content.left, content.left + content.width - x, y - content.top, content.top + content.height - y)
    return {"peak_in_padding": float(not inside), "peak_at_film_edge": float(inside and margin <= 2 * tolerance)}


def image_scores(heat: np.ndarray, annotations: list[dict], content: Box | None = None) -> dict[str, float]:
    """The scores of one map and those of the chance map, on one annotated image whose film fills `content`."""
    size = heat.shape[0]
    mask, tolerance, chance = outline_mask(size, annotations), tolerance_pixels(size), centred_gaussian(size)
    return {"hit": float(pointing_hit(heat, annotations, tolerance)), "mass_inside": mass_inside(heat, mask),
            "outline_share": float(mask.mean()), "chance_hit": float(pointing_hit(chance, annotations, tolerance)),
            "chance_mass_inside": mass_inside(chance, mask),
            **peak_place(heat, content or Box(0, 0, size, size), tolerance)}


def summarise(scores: list[dict[str, float]], groups: list[str], resamples: int, seed: int,
              level: float) -> dict:
    """Mean of each score over the images, with its interval over resamples of their patient groups."""
    table = {key: np.array([score[key] for score in scores]) for key in scores[0]}
    groups = np.asarray(groups)

    def means(rows: np.ndarray) -> dict[str, float]:
        return {key: float(np.nanmean(values[rows])) for key, values in table.items()
                if not np.isnan(values[rows]).all()}

    counts = {key: (int(np.nansum(table[key])), int(np.isfinite(table[key]).sum())) for key in HIT_RATES
              if key in table}
    intervals = patient_bootstrap(groups, means, resamples, seed, level, counts)
    summary = {"images": len(scores), "groups": int(len(set(groups)))}
    for key, value in means(np.arange(len(groups))).items():
        interval = intervals.get(key, {"low": None, "high": None, "method": None})  # every resample alike
        summary[key] = {"value": value, "low": interval["low"], "high": interval["high"],
                        "method": interval["method"]}
    return summary


def localisation_report(rows, scores: dict[str, dict[str, float]], size: int, resamples: int, seed: int,
                        level: float) -> dict:
    """Summaries over every annotated fractured test image, and over the true positives among them.

    `rows` are the test predictions (image_id, patient_id, label, predicted);
    `scores` holds `image_scores` of each annotated fractured image's map, in
    a `size` square.
    """
    scored = rows[(rows["label"] == 1) & rows["image_id"].isin(list(scores))]
    report = {"tolerance_px": tolerance_pixels(size)}
    for name, subset in (("annotated", scored), ("true_positives", scored[scored["predicted"] == 1])):
        report[name] = summarise([scores[image_id] for image_id in subset["image_id"]],
                                 subset["patient_id"].tolist(), resamples, seed, level) \
            if len(subset) else {"images": 0, "groups": 0}
    return report


def film_boxes(rows: pd.DataFrame, preprocessing: Preprocessing) -> dict[str, Box]:
    """Where each image's film lies in the square the model sees, from the source size that filter recorded."""
    shapes = rows.get(column_of("source_size"), pd.Series("", index=rows.index)).map(source_shape)
    return {image_id: content_box(shape, preprocessing.image_size, preprocessing.fit)
            for image_id, shape in zip(rows["image_id"], shapes) if shape}


def with_localisation(predictions: pd.DataFrame, scores: dict, prefix: str = "cam") -> pd.DataFrame:
    """The predictions with each annotated fractured image's pointing-game hit and mass inside its outlines (of its
    Grad-CAM, `cam`, or its fracture map, `map`), so that compare can pair them between models."""
    return predictions.assign(**{f"{prefix}_{key}": predictions["image_id"].map(
        {image_id: score[key] for image_id, score in scores.items()}) for key in ("hit", "mass_inside", "chance_hit")})
