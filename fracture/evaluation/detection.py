"""The model's boxes scored as detections: COCO average precision and FROC, with intervals over patient groups.

Scored on every film whose truth is known: annotated fractured films and
every normal film (a box on a normal film is a false positive); a fractured
film without boxes is left out, since nothing says where its fracture is.
- Average precision is pycocotools' COCOeval (one category, every box size,
  up to 100 boxes a film): AP at IoU 0.5, and the mean over IoU 0.50:0.95.
  The films' matches are computed once; each bootstrap resample re-runs
  COCOeval's accumulation over its films, so the interval costs no matching.
  Where no box overlaps a fracture by half, AP is 0 on every resample; its
  interval is then Wilson's for the recall at IoU 0.5 (0 of the fractures),
  which bounds AP from above.
- FROC (Bandos et al., 2009): the share of annotated fractures found at 0.5,
  1 and 2 false positives per film. A box finds a fracture when its centre
  lies inside the fracture's box; a second box on a found fracture is
  neither found nor false, as in LUNA16's FROC.
"""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
import pandas as pd
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from fracture.evaluation.intervals import patient_bootstrap

FALSE_POSITIVE_RATES = (0.5, 1.0, 2.0)
MAX_DETECTIONS = 100


def _quietly(call, *args):
    with contextlib.redirect_stdout(io.StringIO()):
        return call(*args)


class AveragePrecision:
    """COCOeval's per-film matches of one set of films, accumulated over any multiset of those films."""

    def __init__(self, truth: list[list[list[float]]], detections: list[list[dict]]):
        images = [{"id": index + 1, "width": 1, "height": 1} for index in range(len(truth))]
        pairs = [(index, box) for index, boxes in enumerate(truth) for box in boxes]
        annotations = [{"id": number + 1, "image_id": index + 1, "category_id": 1, "bbox": box,
                        "area": box[2] * box[3], "iscrowd": 0} for number, (index, box) in enumerate(pairs)]
        ground = COCO()
        ground.dataset = {"info": {}, "images": images, "annotations": annotations,
                          "categories": [{"id": 1, "name": "fracture"}]}
        _quietly(ground.createIndex)
        found = [{"image_id": index + 1, "category_id": 1, "bbox": item["box"], "score": item["score"]}
                 for index, items in enumerate(detections) for item in items]
        self.count, self.truths, self.empty = len(truth), len(annotations), not found
        self.matched_at_half = 0
        if self.empty or not annotations:
            return
        self.evaluation = COCOeval(ground, _quietly(ground.loadRes, found), "bbox")
        self.evaluation.params.areaRng, self.evaluation.params.areaRngLbl = [[0, 1e10]], ["all"]
        self.evaluation.params.maxDets = [MAX_DETECTIONS]
        _quietly(self.evaluation.evaluate)
        self.matched_at_half = int(sum((film["gtMatches"][0] > 0).sum() for film in self.evaluation.evalImgs if film))

    def __call__(self, films: np.ndarray) -> dict[str, float]:
        """AP at IoU 0.5 and over 0.50:0.95 of the films at these positions (repeats count twice)."""
        if not self.truths:
            return {}
        if self.empty:
            return {"ap50": 0.0, "ap50_95": 0.0}
        evaluation = copy.copy(self.evaluation)
        evaluation.params = copy.copy(self.evaluation.params)
        evaluation.params.imgIds = list(range(len(films)))
        evaluation._paramsEval = evaluation.params
        evaluation.evalImgs = [self.evaluation.evalImgs[int(film)] for film in films]
        _quietly(evaluation.accumulate)
        precision = evaluation.eval["precision"][:, :, 0, 0, 0]  # IoU thresholds x recall points
        if not (precision > -1).any():  # no fracture among these films
            return {}
        at_half = precision[0][precision[0] > -1]
        return {"ap50": float(at_half.mean()), "ap50_95": float(precision[precision > -1].mean())}


def _centre_inside(detection: list[float], truth: list[float]) -> bool:
    x, y = detection[0] + detection[2] / 2, detection[1] + detection[3] / 2
    return truth[0] <= x <= truth[0] + truth[2] and truth[1] <= y <= truth[1] + truth[3]


def froc_marks(truth: list[list[float]], detections: list[dict]) -> list[tuple[float, int]]:
    """One film's boxes as (score, 1 found a new fracture | 0 false positive), duplicates on a found one left out."""
    found, marks = set(), []
    for item in sorted(detections, key=lambda item: -item["score"]):
        hits = [index for index, box in enumerate(truth) if _centre_inside(item["box"], box)]
        new = [index for index in hits if index not in found]
        if new:
            found.add(new[0])
            marks.append((item["score"], 1))
        elif not hits:
            marks.append((item["score"], 0))
    return marks


def froc(marks: list[list[tuple[float, int]]], truths: list[int], films: np.ndarray,
         rates=FALSE_POSITIVE_RATES) -> dict[str, float]:
    """Sensitivity at each rate of false positives per film, over the films at these positions."""
    total = sum(truths[int(film)] for film in films)
    if total == 0:
        return {}
    pooled = np.array([mark for film in films for mark in marks[int(film)]], dtype=float).reshape(-1, 2)
    pooled = pooled[np.argsort(-pooled[:, 0], kind="stable")]
    found, false = np.cumsum(pooled[:, 1]), np.cumsum(1 - pooled[:, 1])
    result = {}
    for rate in rates:
        allowed = false <= rate * len(films)
        result[f"froc_{rate:g}"] = float(found[allowed].max() / total) if allowed.any() else 0.0
    return result


def _known(rows: pd.DataFrame, truth: dict[str, list[dict]]) -> pd.DataFrame:
    """The films of `rows` whose truth is known: normal, or fractured with boxes."""
    return rows[(rows["label"] == 0) | rows["image_id"].isin(list(truth))].reset_index(drop=True)


def _films(known: pd.DataFrame, truth: dict[str, list[dict]], detections: dict[str, list[dict]]):
    """Each known film's boxes of truth and its detections, in the order of `known`."""
    return ([[item["box"] for item in truth.get(image_id, [])] for image_id in known["image_id"]],
            [detections.get(image_id, []) for image_id in known["image_id"]])


def _scorer(known: pd.DataFrame, truth: dict[str, list[dict]], detections: dict[str, list[dict]]):
    """AP and FROC of `detections` as a function of film positions in `known`, with the fractures, the boxes and
    the fractures matched at IoU 0.5."""
    boxes, found = _films(known, truth, detections)
    precision = AveragePrecision(boxes, found)
    marks, truths = [froc_marks(film, items) for film, items in zip(boxes, found)], [len(film) for film in boxes]

    def scores(films: np.ndarray) -> dict[str, float]:
        return {**precision(films), **froc(marks, truths, films)}

    return scores, int(sum(truths)), int(sum(map(len, found))), precision.matched_at_half


def _estimates(observed: dict, intervals: dict) -> dict:
    return {key: {"value": value, **{end: intervals.get(key, {}).get(end) for end in ("low", "high", "method")}}
            for key, value in observed.items()}


def detection_report(rows: pd.DataFrame, truth: dict[str, list[dict]], detections: dict[str, list[dict]],
                     resamples: int, seed: int, level: float) -> dict | None:
    """AP and FROC of `detections` (image id: boxes with scores) against `truth` (image id: annotations) on the
    films of `rows` (image_id, patient_id, label) whose truth is known, with intervals over patient groups; None
    where no film has a box of truth."""
    known = _known(rows, truth)
    scores, fractures, boxes, matched = _scorer(known, truth, detections)
    if not fractures:
        return None
    observed = scores(np.arange(len(known)))
    bound = {key: (0, fractures) for key in ("ap50", "ap50_95")} if not matched else {}
    intervals = patient_bootstrap(known["patient_id"].to_numpy(), scores, resamples, seed, level, counts=bound)
    return {"films": len(known), "fractured_films": int((known["label"] == 1).sum()), "fractures": fractures,
            "boxes": boxes, "false_positives_per_film": FALSE_POSITIVE_RATES, **_estimates(observed, intervals)}


def froc_summary(rows: pd.DataFrame, truth: dict[str, list[dict]], detections: dict[str, list[dict]]) -> dict:
    """FROC at each rate of false positives, with the films, fractures and boxes, on the films of `rows` whose
    truth is known: no AP and no interval, which is what choosing among box rules needs."""
    boxes, found = _films(_known(rows, truth), truth, detections)
    marks = [froc_marks(film, items) for film, items in zip(boxes, found)]
    return {"films": len(boxes), "fractures": sum(map(len, boxes)), "boxes": sum(map(len, found)),
            **froc(marks, [len(film) for film in boxes], np.arange(len(boxes)))}


def detection_difference(rows: pd.DataFrame, mine: tuple[dict, dict], theirs: tuple[dict, dict], resamples: int,
                         seed: int, level: float) -> dict | None:
    """Each AP and FROC figure of one model's boxes minus another's on the same films, its interval from the same
    patient-group resamples for both, so that what the films share cancels; None without truth. Each side is
    (truth, detections) in its own model's pixels: two models that see films at different sizes place the same
    annotation differently."""
    known = _known(rows, mine[0])
    (mine, fractures, *_), (theirs, *_) = _scorer(known, *mine), _scorer(known, *theirs)
    if not fractures:
        return None

    def differences(films: np.ndarray) -> dict[str, float]:
        a, b = mine(films), theirs(films)
        return {key: a[key] - b[key] for key in a if key in b}

    observed = differences(np.arange(len(known)))
    intervals = patient_bootstrap(known["patient_id"].to_numpy(), differences, resamples, seed, level,
                                  unbounded=tuple(observed))
    return {"films": len(known), "fractures": fractures, **_estimates(observed, intervals)}
