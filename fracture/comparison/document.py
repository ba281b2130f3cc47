"""compare.md, compare.html and compare.json from one comparison, with its two figures."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from sklearn.metrics import roc_curve

from fracture.comparison.analysis import POINTING, TESTED
from fracture.comparison.experiments import Experiment
from fracture.core.storage import command_folder, write_json, write_text
from fracture.evaluation.intervals import MIN_COUNT
from fracture.reporting.document import Block, Figure, Heading, Paragraph, Table, to_html, to_markdown
from fracture.reporting.figures import forest_plot, roc_overlay
from fracture.reporting.numbers import fmt, fmt_ci, wilson_mark

TITLE = "Experiment comparison"


def _signed(estimate: dict | None) -> str:
    """A difference with its interval, signed."""
    estimate = estimate or {}
    if estimate.get("value") is None:
        return "n/a"
    if estimate.get("low") is None:
        return f"{estimate['value']:+.3f}"
    return f"{estimate['value']:+.3f} [{estimate['low']:+.3f}, {estimate['high']:+.3f}]"


def _interval(estimate: dict | None) -> str:
    """The value with its interval; (W) marks a Wilson interval, for a proportion on too few images."""
    estimate = estimate or {}
    return fmt_ci(estimate.get("value"), estimate.get("low"), estimate.get("high")) + wilson_mark(estimate)


def _value_text(value) -> str:
    """A param as params.yaml and `-S` write it: [clahe], true."""
    if isinstance(value, list):
        return "[" + ", ".join(map(_value_text, value)) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _params_text(changed: dict) -> str:
    return ", ".join(f"{key}={_value_text(value)}" for key, value in changed.items()) or "(same params)"


def _minutes(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds / 60:.1f}"


def _p(value: float) -> str:
    if value != value:  # NaN: too few groups to test
        return "n/a"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _difference(test: dict) -> str:
    """Δ [CI], marked † where it is smaller than the run-to-run spread of its metric."""
    low, high = test["low"], test["high"]
    if test.get("only_other") == 0 and test.get("only_reference") == 0:
        return f"{test['difference']:+.3f} (no image differs)"
    interval = "" if low != low else f" [{low:+.3f}, {high:+.3f}]"
    return f"{test['difference']:+.3f}{interval}{' †' if test.get('within_seed_spread') else ''}"


def _experiment_table(comparison: dict) -> Table:
    studies = "study" in comparison["settings"]["levels"]
    rows = comparison["rows"]
    without = next((row["without_text"] for row in rows if row.get("without_text")), None)
    pointing = any(row.get("pointing_game") for row in rows)
    headers = (["experiment", "params that differ", "AUC (image)"] + (["AUC (study)"] if studies else [])
               + ([f"AUC {without}"] if without else []) + ["sensitivity", "specificity", "PPV", "NPV", "ECE"]
               + (["pointing game", "chance: centred map"] if pointing else []) + ["best epoch", "train min"])
    table = []
    for row in rows:
        table.append([row["name"], _params_text(row["changed"]), _interval(row["auc"])]
                     + ([_interval(row["study_auc"])] if studies else [])
                     + ([_interval(row.get("auc_without_shortcuts"))] if without else [])
                     + [_interval(row[key]) for key in ("sensitivity", "specificity", "ppv", "npv", "ece")]
                     + ([_interval(row.get("pointing_game")), _interval(row.get("chance_pointing_game"))]
                        if pointing else [])
                     + [fmt(row["best_epoch"]), _minutes(row["train_seconds"])])
    return Table(headers, table)


def _group_table(comparison: dict) -> Table:
    def spread(summary: dict, key: str) -> str:
        return f"{summary[key]['mean']:.3f} ± {summary[key]['sd']:.3f}" if key in summary else "n/a"

    keys = ["auc"] + (["study_auc"] if "study" in comparison["settings"]["levels"] else []) + [
        "sensitivity", "specificity"]
    names = {"auc": "AUC (image)", "study_auc": "AUC (study)", "sensitivity": "sensitivity",
             "specificity": "specificity"}
    return Table(["runs", "train.seed"] + [names[key] for key in keys],
                 [[", ".join(group["members"]), ", ".join(map(_value_text, group["seeds"]))]
                  + [spread(group, key) for key in keys] for group in comparison["seed_groups"]])


def _difference_table(comparison: dict, level: str) -> Table:
    rows = []
    for result in comparison["differences"]:
        if result["level"] != level:
            continue
        rows.append([result["name"]] + [text for metric in ("auc", "sensitivity", "specificity") for text in (
            _difference(result[metric]), _p(result[metric]["p_value"]), _p(result[metric]["p_holm"]))])
    return Table(["experiment"] + [f"{name} {column}" for name in ("Δ AUC", "Δ sensitivity", "Δ specificity")
                                   for column in ("[CI]", "p", "p (Holm)")], rows)


def _detection_table(comparison: dict) -> list[Block]:
    """Each fracture map model's boxes as detections."""
    rows = [row for row in comparison["rows"] if row.get("detection")]
    if not rows:
        return []
    rates = rows[0]["detection"]["false_positives_per_film"]
    keys = ["ap50", "ap50_95"] + [f"froc_{rate:g}" for rate in rates]
    blocks = [Heading("Boxes as detections", 3),
             Paragraph("The boxes of each fracture map model (its map's peaks, each with its extent or the box its "
                       "cell regressed (model.map_box), scored by its peak: fracture/inference/map_boxes.py) on "
                       "every test film whose truth is known: "
                       "annotated fractured films and every normal film. AP is COCO's (pycocotools); FROC is the "
                       "share of annotated fractures found (a box's centre inside the fracture's box) at that many "
                       "false positives per film. Intervals over "
                       f"{comparison['settings']['unit']}; descriptive, outside the Holm family. An AP of 0 (no box "
                       "overlaps a fracture by half) gets the Wilson interval of the recall at IoU 0.5, 0 of the "
                       "fractures, which bounds it."),
             Table(["experiment", "films", "fractures", "AP@0.5", "AP@0.5:0.95"]
                   + [f"FROC at {rate:g} FP/film" for rate in rates],
                   [[row["name"], str(row["detection"]["films"]), str(row["detection"]["fractures"])]
                    + [_interval(row["detection"].get(key)) for key in keys] for row in rows])]
    paired = comparison.get("detection_differences") or {}
    if paired:
        blocks.append(Paragraph(f"Paired against {paired['reference']}'s boxes on the same films, on the same "
                                f"resamples of {comparison['settings']['unit']}; descriptive too."))
        blocks.append(Table(["experiment", "Δ AP@0.5 [CI]", "Δ AP@0.5:0.95 [CI]"]
                            + [f"Δ FROC at {rate:g} FP/film [CI]" for rate in rates],
                            [[row["name"]] + [_signed(row.get(key)) for key in keys]
                             for row in paired["differences"]]))
    return blocks


def _pointing_table(comparison: dict) -> list[Block]:
    rows = [[result["name"], _difference(result[POINTING]), _p(result[POINTING]["p_value"]),
             _p(result[POINTING]["p_holm"]), str(result[POINTING]["groups"])]
            for result in comparison["differences"] if POINTING in result]
    if not rows:
        return []
    return [Heading("Where the models look", 3),
            Paragraph(f"Pointing game: whether a model's explanation (its fracture map where it has one, else its "
                      f"fracture-class Grad-CAM) peaks inside an annotator's box, "
                      f"on the annotated fractured test images both models were scored on. Δ is the change in hit "
                      f"rate against {comparison['reference']}, by the same clustered McNemar test, and belongs to "
                      f"the Holm family. The table above gives each model's rate beside a centred map's, the "
                      f"chance level."),
            Table(["experiment", "Δ pointing game [CI]", "p", "p (Holm)", comparison["settings"]["unit"]], rows)]


def _verdict_table(comparison: dict) -> list[Block]:
    """Recipes over seeds: the seed-mean Δ AUC with the seeds' spread counted."""
    if not comparison["verdicts"]:
        return []
    rows = [[verdict["name"], str(verdict["seeds"]), _difference(verdict["auc"]), _p(verdict["auc"]["p_value"]),
             _p(verdict["auc"]["p_holm"]), f"{verdict['auc']['se_films']:.3f}" if verdict["auc"]["se_films"] else "n/a",
             f"{verdict['auc']['se_seeds']:.3f}", "provisional" if verdict["provisional"] else ""]
            for verdict in comparison["verdicts"]]
    reference = comparison["verdicts"][0]
    return [Heading("Recipes over seeds"),
            Paragraph(f"Each recipe run over several train.seed values against the reference recipe "
                      f"({reference['reference']}, {reference['reference_seeds']} runs): the difference of their "
                      f"seed-mean image AUCs. Its standard error adds the films' part (the bootstrap over "
                      f"{comparison['settings']['unit']}, every run scored on the same draws) and the seeds' part "
                      f"(each recipe's variance of its runs' AUCs over its number of runs); the interval and p come "
                      f"from Student's t with the Welch-Satterthwaite degrees of freedom of the seeds' part. This is "
                      f"the verdict on a recipe: a single run's Δ above treats the trained model as fixed. With "
                      f"fewer than 3 runs a side a verdict is provisional: two runs estimate a spread poorly."),
            Table(["recipe", "runs", "Δ AUC vs the reference recipe [CI]", "p", "p (Holm)", "SE films", "SE seeds",
                   ""], rows)]


def _confirmation(comparison: dict) -> list[Block]:
    """The search's pick against the same pick made fold by fold on the other folds' films."""
    found = comparison.get("confirmation")
    if not found:
        return []
    chosen = "; ".join(f"fold {fold}: {name}" for fold, name in found["chosen"].items())
    return [Heading("The choice, confirmed on films that did not make it"),
            Paragraph(f"Chosen on all films (the search's figure): {found['winner']}, pooled AUC "
                      f"{found['search_auc']:.3f}, mean of its folds' AUCs {found['search_mean_fold_auc']:.3f}; "
                      f"these films chose it, so the figure is optimistic. Confirmation: for each fold the recipe "
                      f"with the best seed-mean pooled AUC on the other folds' films ({chosen}), scored on that "
                      f"fold's films, which took no part in the choice; the choice is made again in every bootstrap "
                      f"draw. Mean over the folds: {_interval(found['confirmed_auc'])}, against "
                      f"{_interval(found['reference_auc'])} for {found['reference']} on the same folds; Δ "
                      f"{_difference(found['difference'])} (p {_p(found['difference']['p_value'])}, Holm "
                      f"{_p(found['difference']['p_holm'])}). A fold's model was trained on the films that chose for "
                      f"the other folds, as in any cross-validation.")]


def _fold_table(comparison: dict) -> list[Block]:
    """Each pooled recipe's AUC per fold and their mean, beside the pooled AUC the differences use."""
    rows = [[row["name"], _interval(row["auc"])] + [fmt(value) for value in row["fold_aucs"]]
            + [fmt(row["mean_fold_auc"])] for row in comparison["rows"] if row.get("fold_aucs")]
    if not rows:
        return []
    folds = max(len(row) for row in rows) - 3
    return [Heading("Per fold", 3),
            Paragraph("The pooled AUC ranks every fold model's probabilities together, and the differences above use "
                      "it; it also pays for a difference in calibration between the folds' models, so each fold's "
                      "own AUC and their mean are given beside it. A pooled AUC well below the mean says the folds' "
                      "models disagree in scale."),
            Table(["experiment", "pooled AUC"] + [f"fold {number}" for number in range(folds)] + ["mean of folds"],
                  rows)]


def _region_table(comparison: dict) -> list[Block]:
    if not comparison.get("regions"):
        return []
    reference = comparison["reference"]

    def counts(region: dict) -> str:
        return f"{region['images']} ({region['abnormal']}){' ‡' if region['abnormal'] < MIN_COUNT else ''}"

    rows = [[region["region"], counts(region), str(region["groups"]), name, _interval(auc),
             "" if name == reference else _difference(region["differences"][name]),
             "" if name == reference else _p(region["differences"][name]["p_value"])]
            for region in comparison["regions"] for name, auc in region["auc"].items()]
    return [Heading("Per body region"),
            Paragraph(f"Image AUC on each region's test images, with its interval over that region's "
                      f"{comparison['settings']['unit']}, and Δ AUC against {reference} on the same images with the "
                      f"paired bootstrap above. These are descriptive: they are not in the Holm family, and an "
                      f"interval resting on few abnormal images (in brackets) is wide. ‡: fewer than {MIN_COUNT} "
                      f"abnormal images, too few to say anything about the region."),
            Table(["region", "images (abnormal)", comparison["settings"]["unit"], "experiment", "AUC [CI]",
                   f"Δ AUC vs {reference} [CI]", "p"], rows)]


def _pooling_note(comparison: dict) -> list[Block]:
    folds = comparison.get("cross_validation")
    if not folds:
        return []
    return [Paragraph(f"Cross-validated: each experiment above pools the test splits of its {folds['folds']} folds "
                      f"(fold sizes {', '.join(map(str, folds['fold_images']))}; one deal of the "
                      f"{folds['images']} images, fingerprint {folds['assignment_sha256'][:12]}), so every image "
                      f"was tested once, by a model that never saw its group. Sensitivity and specificity use each "
                      f"fold's own frozen threshold; the AUC ranks the pooled out-of-fold probabilities. "
                      f"\"train min\" is the sum over the folds. Study-level figures are not pooled.")]


def _figures(comparison: dict, models: list[Experiment], folder: Path) -> list[Block]:
    curves = {}
    for model, row in zip(models, comparison["rows"]):
        test = model.test()
        fpr, tpr, _ = roc_curve(test["label"], test["probability"])
        curves[f"{row['name']} ({row['auc']['value']:.3f})"] = pd.DataFrame({"fpr": fpr, "tpr": tpr})
    roc_overlay(curves, folder / "figures" / "roc.png")
    blocks = [Figure("figures/roc.png", "Test ROC curves per image, ROC-AUC in brackets")]
    image = [result for result in comparison["differences"] if result["level"] == "image"]
    if image:
        level = round(comparison["settings"]["ci_level"] * 100)
        forest_plot([(result["name"], result["auc"]["difference"], result["auc"]["low"], result["auc"]["high"])
                     for result in image],
                    f"ROC-AUC minus {comparison['reference']}'s ({level}% paired bootstrap interval)",
                    folder / "figures" / "forest.png")
        blocks.append(Figure("figures/forest.png", f"Per-image ROC-AUC difference against "
                                                   f"{comparison['reference']}, {level}% interval"))
    return blocks


def build_document(comparison: dict, models: list[Experiment], folder: Path) -> list[Block]:
    settings = comparison["settings"]
    level = round(settings["ci_level"] * 100)
    blocks: list[Block] = [
        Heading(TITLE, 1),
        Paragraph(f"All experiments were tested on the same {settings['test_images']} images "
                  f"({settings['test_abnormal']} abnormal) from {settings['test_groups']} "
                  f"{settings['unit']}. Intervals are {level}% intervals from "
                  f"{settings['resamples']} bootstrap resamples of {settings['unit_description']} "
                  f"(seed {settings['seed']}): on the logit scale from the resamples' standard error for a metric "
                  f"on 0..1, BCa for ECE's. Sensitivity, specificity, PPV and NPV are per image at each "
                  f"model's threshold frozen on validation, PPV and NPV at this test set's prevalence "
                  f"({settings['test_abnormal'] / max(settings['test_images'], 1):.1%}). A proportion of 0 or 1, or "
                  f"one that rests on fewer than {MIN_COUNT} images, gets a Wilson score interval instead, marked "
                  f"(W): the bootstrap's resamples cannot vary there. Where the runs measured them, \"AUC without\" "
                  f"is the test AUC without the films of the shortcuts that the split stage named on the training "
                  f"split (their run reports list them), and the pointing game is the share of annotated "
                  f"fractured test films whose fracture-class Grad-CAM peaks inside an annotator's box."),
        *_pooling_note(comparison),
        Heading("Experiments"),
        _experiment_table(comparison),
    ]
    if comparison["seed_groups"]:
        blocks += [Heading("Repeated runs (train.seed)"),
                   Paragraph("Runs that differ only in train.seed: mean ± sample standard deviation over the runs "
                             "(the run-to-run noise of the recipe). Their ensemble, the mean probability, is a row "
                             "of the tables above and below, with thresholds chosen on its validation "
                             "probabilities."),
                   _group_table(comparison)]
    tests = sum(metric in result for result in comparison["differences"] for metric in TESTED + (POINTING,)) + len(
        comparison["verdicts"]) + bool(comparison["confirmation"])
    spread = ("† marks an image-level difference smaller than the spread of a difference between two runs of one "
              "recipe (√2 times the largest seed-to-seed standard deviation of its metric above): a single run's "
              "difference of that size is within run-to-run noise. " if comparison["seed_groups"] else "")
    blocks += [Heading(f"Paired differences against {comparison['reference']}"),
               Paragraph(f"Δ is the other experiment minus {comparison['reference']}. Δ AUC: both models scored on "
                         f"the same bootstrap resamples of {settings['unit']}, so the interval is that of the "
                         f"difference itself: Δ ± t × its bootstrap standard error, t on the {settings['unit']} "
                         f"holding a fractured film less one, and p (two-sided) is that t test's: continuous, so it "
                         f"can pass Holm, where a p counted from {settings['resamples']} draws is never below "
                         f"{2 / (settings['resamples'] + 1):.3f}. "
                         f"Δ sensitivity and Δ specificity, at each model's frozen threshold: Durkalski et al.'s "
                         f"clustered McNemar test (2003), whose variance is taken over {settings['unit']} since one "
                         f"patient's films are not independent, with the {level}% Wald interval that inverts it. "
                         f"p (Holm) adjusts over the whole family of {tests} tests of this comparison (every "
                         f"experiment, level and metric, the recipe verdicts and the confirmation below): this "
                         f"family, not the tests of any other comparison of the same films, which controls only its "
                         f"own. A p above 0.05 does not show that two models are equal: only an interval inside a "
                         f"margin fixed in advance would. {spread}"
                         f"ECE, in the table above, is the expected calibration error of the positive class "
                         f"(P(abnormal) against the observed share, {settings['calibration_bins']} "
                         f"equal-width bins), not the top-label ECE of Guo et al.")]
    for level_name in settings["levels"]:
        blocks += [Heading(f"Per {level_name}", 3), _difference_table(comparison, level_name)]
    return (blocks + _verdict_table(comparison) + _confirmation(comparison) + _fold_table(comparison)
            + _pointing_table(comparison) + _detection_table(comparison) + _region_table(comparison)
            + _figures(comparison, models, folder))


def _without_nan(value):
    """NaN (a test too few groups can take, a missing interval) as JSON's null."""
    if isinstance(value, dict):
        return {key: _without_nan(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_nan(item) for item in value]
    return None if isinstance(value, float) and math.isnan(value) else value


def write_comparison(comparison: dict, models: list[Experiment], folder: Path) -> None:
    """The three files (and figures/) under `folder`, replaced whole; a folder of anything else is refused."""
    with command_folder(folder, "compare") as staging:
        blocks = build_document(comparison, models, staging)
        write_text(staging / "compare.md", to_markdown(blocks))
        write_text(staging / "compare.html", to_html(blocks, staging, TITLE))
        write_json(staging / "compare.json", _without_nan(comparison))
