"""The report's section on outside sets: each set beside the test split, and what differs between them.

A headline moves between sets for reasons other than the model: another mix
of regions (hands are harder than legs), another prevalence (precision, F1
and accuracy move with it; AUC, sensitivity and specificity do not by
themselves). Each difference large enough to matter is said in words next
to the numbers, with the per-region figures of both sets.
"""

from __future__ import annotations

from pathlib import Path

from fracture.core.storage import read_json
from fracture.data.covariates import MIN_CASES
from fracture.reporting.document import Block, Heading, Paragraph, Table
from fracture.reporting.numbers import fmt, fmt_ci, with_ci
from fracture.reporting.subgroup_tables import TOO_SMALL

PREVALENCE_GAP = 0.05  # absolute difference in the share of fractured images worth a sentence
MIX_GAP = 0.10  # total-variation distance between two region mixes worth a sentence


def read_external(folder: Path) -> dict[str, dict]:
    """Each outside set's metrics.json under `folder`, by set name."""
    return {path.parent.name: read_json(path) for path in sorted(folder.glob("*/metrics.json"))}


def _shares(counts: dict) -> dict[str, float]:
    total = sum(c["abnormal"] + c["normal"] for c in counts.values())
    return {region: (c["abnormal"] + c["normal"]) / total for region, c in counts.items()} if total else {}


def _mix_text(shares: dict[str, float]) -> str:
    return ", ".join(f"{region} {share:.0%}" for region, share in sorted(shares.items(), key=lambda kv: -kv[1]))


def what_differs(test_counts: dict, data: dict) -> list[str]:
    """Sentences on how an outside set's prevalence and region mix differ from the test split's.

    `test_counts`: the test split's images per region and label (split.json);
    `data`: the outside set's `data` summary.
    """
    test_images = sum(c["abnormal"] + c["normal"] for c in test_counts.values())
    test_prevalence = sum(c["abnormal"] for c in test_counts.values()) / test_images
    said = []
    if abs(data["prevalence"] - test_prevalence) >= PREVALENCE_GAP:
        said.append(f"Prevalence differs: {test_prevalence:.0%} of the test split's images are fractured, "
                    f"{data['prevalence']:.0%} of this set's. Precision, F1 and accuracy move with prevalence; "
                    f"ROC-AUC, sensitivity and specificity do not by themselves.")
    test_mix, set_mix = _shares(test_counts), _shares(data["by_region"])
    distance = 0.5 * sum(abs(test_mix.get(region, 0) - set_mix.get(region, 0))
                         for region in set(test_mix) | set(set_mix))
    if distance >= MIX_GAP:
        unseen = sorted(set(set_mix) - set(test_mix))
        said.append(f"Region mix differs (total variation {distance:.2f}): test split {_mix_text(test_mix)}; this "
                    f"set {_mix_text(set_mix)}."
                    + (f" The test split has no {', '.join(unseen)} images, so the model was not tested on them "
                       f"before." if unseen else ""))
    return said


def _region_cells(by_region: dict, overall: dict, counts: dict, region: str) -> list[str]:
    """Images, fractured and AUC of one region: its own entry, or the whole set's where it is the only region."""
    scores = by_region.get(region) or (overall if list(counts) == [region] else None)
    if region not in counts:
        return ["0", "0", ""]
    images = counts[region]["abnormal"] + counts[region]["normal"]
    if scores and min(counts[region].values()) < MIN_CASES:
        return [str(images), str(counts[region]["abnormal"]), f"{fmt(scores['auc'])} ({TOO_SMALL})"]
    return [str(images), str(counts[region]["abnormal"]), with_ci(scores, "auc") if scores else "one class only"]


def _set_blocks(name: str, metrics: dict, evaluation: dict, test_counts: dict) -> list[Block]:
    data = metrics["data"]
    rejected = ", ".join(f"{reason} {count}" for reason, count in data["filter"]["rejected"].items()) or "none"
    blocks = [Heading(f"{name}", 4), Paragraph(
        f"{data['source']} set at {data['path']}, regions {', '.join(data['regions'])}: "
        f"{data['filter']['images_in']} images read, {data['filter']['images_in_regions']} in those regions, "
        f"{data['images']} kept ({data['fractured']} fractured); rejected: {rejected}. Intervals over its "
        f"{data['grouping']['unit']}.")]
    blocks += [Paragraph(sentence) for sentence in what_differs(test_counts, data)]
    regions = sorted(set(test_counts) | set(data["by_region"]))
    rows = [[region] + _region_cells(evaluation.get("test_by_region") or {}, evaluation["test"]["image"],
                                     test_counts, region)
            + _region_cells(metrics["by_region"], metrics["image"], data["by_region"], region) for region in regions]
    blocks.append(Table(["region", "test images", "test fractured", "test ROC-AUC", "set images", "set fractured",
                         "set ROC-AUC"], rows))
    notes = []
    without = (metrics.get("shortcuts") or {}).get("without")
    if without and without.get("image"):
        notes.append(f"{without['text']}: ROC-AUC {with_ci(without['image'], 'auc')} "
                     f"({without['image']['n']} images, {without['image']['positives']} fractured).")
    annotated = (metrics.get("localisation") or {}).get("annotated") or {}
    if annotated.get("images"):
        hit, chance = annotated["hit"], annotated["chance_hit"]
        notes.append(f"Pointing game on its {annotated['images']} annotated fractured images: "
                     f"{fmt_ci(hit['value'], hit['low'], hit['high'])}; a centred map scores {fmt(chance['value'])}.")
    return blocks + ([Paragraph(" ".join(notes))] if notes else [])


def external_section(evaluation: dict, split: dict, sets: dict[str, dict]) -> list[Block]:
    """The test split and each outside set side by side, then each set's details."""
    if not sets:
        return []
    test = evaluation["test"]
    levels = [level for level in ("image", "study") if level in test]

    def row(name: str, scores: dict, prevalence: float) -> list[str]:
        image = scores["image"]
        return ([name, str(image["n"]), str(image["positives"]), f"{prevalence:.0%}", with_ci(image, "auc"),
                 with_ci(image, "sensitivity"), with_ci(image, "specificity")]
                + ([with_ci(scores["study"], "auc") if "study" in scores else "no studies"] if len(levels) == 2
                   else []))

    rows = [row("test split", test, test["image"]["positives"] / test["image"]["n"])]
    rows += [row(name, metrics, metrics["data"]["prevalence"]) for name, metrics in sets.items()]
    header = ["set", "images", "fractured", "prevalence", "ROC-AUC", "sensitivity", "specificity"] + (
        ["study ROC-AUC"] if len(levels) == 2 else [])
    test_counts = split["splits"]["test"]["by_region"]
    blocks = [Heading("Outside sets", 3), Paragraph(
        "Each outside set was read by the pipeline's source parsers, screened by the model's quality rules, "
        "prepared as the model was trained and scored at the thresholds frozen on validation, like the test split; "
        "none shares an image with the training or validation images. Intervals are over each set's own groups."),
        Table(header, rows)]
    for name, metrics in sets.items():
        blocks += _set_blocks(name, metrics, evaluation, test_counts)
    return blocks
