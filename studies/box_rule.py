"""Which rule turns a fracture map into boxes: chosen on a run's validation films, then scored on its test films.

A rule is (level, drop): the map's regions above the logit `level`, and in
each the cells within `drop` logits of its peak, each connected part a box
scored by its peak (fracture/inference/map_boxes.py; drop = inf boxes the
whole region, the first rule). Every candidate is scored on the validation
films by its FROC at 0.5, 1 and 2 false positives a film; the best, and the
rule map_boxes draws by default, are then each paired on the test films with
the first rule (regions above one half), and the best with the default, each
difference with an interval over the same patient-group resamples. With
`--against` another checkpoint of the same run's films (another head, say),
the two models' boxes under the default rule are paired on the test films.

    python studies/box_rule.py models/model.pt data/processed [--resamples 1000] [--against other/model.pt]

The checkpoint and the processed folder of one run (`dvc exp apply EXP && dvc checkout` restores an experiment's).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fracture.core.storage import read_json  # noqa: E402
from fracture.data.processed import load_split  # noqa: E402
from fracture.evaluation.detection import detection_difference, detection_report, froc_summary  # noqa: E402
from fracture.inference.loaded_model import LoadedModel  # noqa: E402
from fracture.inference.map_boxes import PEAK_DROP, REGION_LEVEL, map_boxes  # noqa: E402

LEVELS, DROPS = (-3.0, -2.0, -1.0, 0.0), (0.1, 0.25, 0.5, 1.0, np.inf)
FIRST_RULE = (0.0, np.inf)
RATES = ("froc_0.5", "froc_1", "froc_2")


def split_maps(model: LoadedModel, processed: Path, split: str):
    data = load_split(processed, split)
    images = data.images[:, 0].numpy()
    return data.rows, np.concatenate([model.maps(images[start:start + 32]) for start in range(0, len(images), 32)])


def detections(rows, maps, rule: tuple[float, float]) -> dict:
    return {image_id: map_boxes(logits, *rule) for image_id, logits in zip(rows["image_id"], maps)}


def choose_rule(rows, truth: dict, maps: np.ndarray) -> tuple[tuple[float, float], list[tuple]]:
    """The candidate rule with the highest FROC at 0.5, then 1 and 2 false positives a film (a tie: the higher
    level, then drop), and every candidate's (rule, FROC at the three rates, boxes per film)."""
    table = []
    for rule in ((level, drop) for level in LEVELS for drop in DROPS):
        found = froc_summary(rows, truth, detections(rows, maps, rule))
        table.append((rule, tuple(found[key] for key in RATES), found["boxes"] / found["films"]))
    return max(table, key=lambda row: (row[1], row[0]))[0], table


def paired_rules(rows, truth: dict, maps: np.ndarray, chosen: tuple[float, float], resamples: int) -> list[tuple]:
    """On the test films: (name, rule, its report, the rule it is paired with, the paired difference) for the
    chosen rule and the default against the first rule, and the chosen rule against the default where they
    differ."""
    default = (REGION_LEVEL, PEAK_DROP)
    boxes = {rule: detections(rows, maps, rule) for rule in {chosen, default, FIRST_RULE}}
    reports = {rule: detection_report(rows, truth, boxes[rule], resamples, 0, 0.95) for rule in {chosen, default}}
    pairs = [("this run's validation chose", chosen, FIRST_RULE), ("map_boxes draws", default, FIRST_RULE)]
    pairs += [("this run's validation chose", chosen, default)] if chosen != default else []
    return [(name, rule, reports[rule], other,
             detection_difference(rows, (truth, boxes[rule]), (truth, boxes[other]), resamples, 0, 0.95))
            for name, rule, other in pairs]


def paired_models(rows, truth: dict, maps: np.ndarray, other_maps: np.ndarray, resamples: int) -> tuple:
    """On the test films: both models' reports with the default rule, and this one's minus the other's."""
    default = (REGION_LEVEL, PEAK_DROP)
    mine, theirs = detections(rows, maps, default), detections(rows, other_maps, default)
    return (detection_report(rows, truth, mine, resamples, 0, 0.95),
            detection_report(rows, truth, theirs, resamples, 0, 0.95),
            detection_difference(rows, (truth, mine), (truth, theirs), resamples, 0, 0.95))


def _line(key: str, report: dict, paired: dict) -> str:
    return (f"  {key}: {report[key]['value']:.3f} [{report[key]['low']:.3f}, {report[key]['high']:.3f}], "
            f"difference {paired[key]['value']:+.3f} [{paired[key]['low']:+.3f}, {paired[key]['high']:+.3f}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("processed", type=Path)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--against", type=Path, help="another checkpoint trained on the same films")
    args = parser.parse_args()
    model, truth = LoadedModel.load(args.model, torch.device("cpu")), read_json(args.processed / "annotations.json")
    rows, maps = split_maps(model, args.processed, "val")
    chosen, table = choose_rule(rows, truth, maps)
    print("validation: level drop | FROC at 0.5 / 1 / 2 FP per film | boxes per film")
    for (level, drop), froc, boxes in table:
        print(f"{level:5.1f} {drop:5.2f} | {' / '.join(f'{value:.3f}' for value in froc)} | {boxes:.2f}")
    rows, maps = split_maps(model, args.processed, "test")
    for name, rule, report, other, paired in paired_rules(rows, truth, maps, chosen, args.resamples):
        print(f"test, {report['fractures']} fractures on {report['films']} films, {report['boxes']} boxes: {name} "
              f"level {rule[0]}, drop {rule[1]}; minus level {other[0]}, drop {other[1]}")
        for key in ("ap50", *RATES):
            print(_line(key, report, paired))
    if args.against:
        _, other_maps = split_maps(LoadedModel.load(args.against, torch.device("cpu")), args.processed, "test")
        report, other, paired = paired_models(rows, truth, maps, other_maps, args.resamples)
        print(f"test, the default rule: {report['boxes']} boxes against {args.against}'s {other['boxes']}; "
              f"minus {args.against}")
        for key in ("ap50", "ap50_95", *RATES):
            print(_line(key, report, paired) + f"; {args.against}: {other[key]['value']:.3f}")


if __name__ == "__main__":
    main()
