"""The fracture map's aims against a comparison's pooled results: each figure as a share of its aim.

The aims (a user's bar for a model that finds fractures on hand and wrist films): pooled AUC on hand films 0.90
or more; the pointing game 0.70 or more with its lower bound above the chance map's upper bound; COCO AP@0.5
0.56 or more with normal films included. Read from `python -m fracture compare`'s compare.json, so the figures
are those of the study that wrote it (every film tested once when its experiments are cross-validated folds):

    python bench/fracture_aims.py reports/compare-fracture-map/compare.json [--region hand]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fracture.reporting.numbers import fmt_ci  # noqa: E402

HAND_AUC, POINTING, AP50 = 0.90, 0.70, 0.56


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("comparison", type=Path, help="compare.json written by `python -m fracture compare`")
    parser.add_argument("--region", default="hand", help="the region whose pooled AUC the AUC aim is about")
    return parser.parse_args()


def _interval(estimate: dict | None) -> str:
    if not estimate or estimate.get("value") is None:
        return "not measured"
    return fmt_ci(estimate["value"], estimate.get("low"), estimate.get("high"))


def _share(estimate: dict | None, aim: float) -> str:
    value = (estimate or {}).get("value")
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value / aim:.2f}"


def aims(comparison: dict, region: str) -> list[tuple[str, str, str, str, str]]:
    """One line per experiment and aim: (experiment, aim, figure with its interval, share of the aim, verdict)."""
    regional = {entry["region"]: entry["auc"] for entry in comparison.get("regions", [])}
    lines = []
    for row in comparison["rows"]:
        name = row["name"]
        auc = regional.get(region, {}).get(name)
        lines.append((name, f"{region} AUC >= {HAND_AUC}", _interval(auc), _share(auc, HAND_AUC),
                      "reached" if auc and auc["value"] >= HAND_AUC else "no"))
        hit, chance = row.get("pointing_game"), row.get("chance_pointing_game")
        above = bool(hit and chance and hit.get("low") is not None and hit["low"] > chance["high"])
        verdict = "reached" if above and hit["value"] >= POINTING else ("above chance" if above else "no")
        lines.append((name, f"pointing game >= {POINTING}, above chance ({_interval(chance)})", _interval(hit),
                      _share(hit, POINTING), verdict))
        ap50 = (row.get("detection") or {}).get("ap50")
        lines.append((name, f"AP@0.5 >= {AP50}, normal films included", _interval(ap50), _share(ap50, AP50),
                      "reached" if ap50 and ap50["value"] >= AP50 else "no"))
    return lines


def main() -> None:
    arguments = _arguments()
    comparison = json.loads(arguments.comparison.read_text())
    lines = aims(comparison, arguments.region)
    widths = [max(len(line[column]) for line in lines) for column in range(5)]
    header = ("experiment", "aim", "figure", "of aim", "verdict")
    widths = [max(width, len(title)) for width, title in zip(widths, header)]
    for line in (header, *lines):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())


if __name__ == "__main__":
    main()
