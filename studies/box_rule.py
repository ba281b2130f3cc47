"""Which rule turns a fracture map into boxes: chosen on a run's validation films, then scored on its test films.

A rule is (level, drop): the map's regions above the logit `level`, and in
each the cells within `drop` logits of its peak, each connected part a box
scored by its peak (fracture/inference/map_boxes.py; drop = inf boxes the
whole region, the first rule). Every candidate is scored on the validation
films by its FROC at 0.5, 1 and 2 false positives a film; the best, and the
rule map_boxes draws by default, are then each paired on the test films with
the first rule (regions above one half), the difference with an interval over
the same patient-group resamples.

    python studies/box_rule.py models/model.pt data/processed [--resamples 1000]

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
from fracture.evaluation.detection import detection_difference, detection_report  # noqa: E402
from fracture.inference.loaded_model import LoadedModel  # noqa: E402
from fracture.inference.map_boxes import PEAK_DROP, REGION_LEVEL, map_boxes  # noqa: E402

LEVELS, DROPS = (-3.0, -2.0, -1.0, 0.0), (0.1, 0.25, 0.5, 1.0, np.inf)
FIRST_RULE = (0.0, np.inf)
RATES = ("froc_0.5", "froc_1", "froc_2")


def split_maps(model: LoadedModel, processed: Path, split: str):
    data = load_split(processed, split)
    images = data.images[:, 0].numpy()
    return data.rows, np.concatenate([model.maps(images[start:start + 32]) for start in range(0, len(images), 32)])


def detections(rows, maps, level: float, drop: float) -> dict:
    return {image_id: map_boxes(logits, level, drop) for image_id, logits in zip(rows["image_id"], maps)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("processed", type=Path)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    model, truth = LoadedModel.load(args.model, torch.device("cpu")), read_json(args.processed / "annotations.json")
    rows, maps = split_maps(model, args.processed, "val")
    print("validation: level drop | FROC at 0.5 / 1 / 2 FP per film | boxes per film")
    scored = []
    for level in LEVELS:
        for drop in DROPS:
            report = detection_report(rows, truth, detections(rows, maps, level, drop), 0, 0, 0.95)
            froc = tuple(report[key]["value"] for key in RATES)
            scored.append((froc, (level, drop)))
            print(f"{level:5.1f} {drop:5.2f} | {' / '.join(f'{value:.3f}' for value in froc)} | "
                  f"{report['boxes'] / report['films']:.2f}")
    chosen = max(scored)[1]
    rows, maps = split_maps(model, args.processed, "test")
    first = (truth, detections(rows, maps, *FIRST_RULE))
    for name, rule in (("this run's validation chose", chosen), ("map_boxes draws", (REGION_LEVEL, PEAK_DROP))):
        mine = (truth, detections(rows, maps, *rule))
        report = detection_report(rows, truth, mine[1], args.resamples, 0, 0.95)
        paired = detection_difference(rows, mine, first, args.resamples, 0, 0.95)
        print(f"test, {report['fractures']} fractures on {report['films']} films, {report['boxes']} boxes: {name} "
              f"level {rule[0]}, drop {rule[1]}; minus the first rule (level 0, whole regions)")
        for key in ("ap50", *RATES):
            print(f"  {key}: {report[key]['value']:.3f} [{report[key]['low']:.3f}, {report[key]['high']:.3f}], "
                  f"difference {paired[key]['value']:+.3f} [{paired[key]['low']:+.3f}, {paired[key]['high']:+.3f}]")


if __name__ == "__main__":
    main()
