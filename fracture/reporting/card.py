"""The model card: what the trained model is, what it is for, what it was trained and tested on, how well it did
and where it fails, in the sections of Mitchell et al., "Model Cards for Model Reporting" (FAT* 2019).

Every figure and every caveat is drawn from the run's own outputs, so the
card of a run on 41 fractured films says that its interval is wide, and the
card of a synthetic run says that it shows nothing clinical. The JSON form
is checked against `model_card.schema.json` before it is written.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import jsonschema

from fracture import __version__
from fracture.data.covariates import MIN_CASES
from fracture.evaluation.metrics import COLLAPSED_SPREAD
from fracture.reporting.document import markdown_text
from fracture.reporting.numbers import fmt, fmt_ci
from fracture.reporting.outside_tables import what_differs
from fracture.reporting.provenance import DATA_SOURCES, pretrained_weights
from fracture.reporting.subgroup_tables import TOO_SMALL

SCHEMA = Path(__file__).with_name("model_card.schema.json")
METRICS = ("auc", "pr_auc", "sensitivity", "specificity", "precision", "f1", "accuracy", "kappa")
GROUPING_CAVEATS = {
    "pseudo_patient": "Groups are heuristic pseudo-patients, not known patients: films of one patient may sit in two "
                      "splits, which would flatter the test figures and narrow their intervals.",
    "group": "Groups come from the data's own group column and are not known to be patients.",
    "image": "The data has no grouping, so films of one patient may sit in training and test: leakage cannot be ruled "
             "out and the intervals treat films as independent.",
}
INTENDED_USE = {
    "primary_uses": "Research on fracture classification of radiographs: reproducing, comparing and validating "
                    "models on labelled films.",
    "primary_users": "Medical-imaging researchers and engineers.",
    "out_of_scope": [
        "Diagnosis or triage of patients: this is a research tool, not a medical device, and it has no regulatory "
        "clearance.",
        "Body regions, views, ages or acquisition settings absent from its training data, unless validated on them "
        "first (python -m fracture validate).",
        "Deciding from its probabilities at a threshold chosen on another population without checking it there.",
    ],
}
ETHICAL_CONSIDERATIONS = [
    "Radiographs are personal health data: outside sets must be used under their terms and de-identified.",
    "A missed fracture harms a patient; the operating point trades sensitivity against specificity and was "
    "chosen on validation films of the training source.",
    "Subgroups with few films (by region, view, age, sex or hardware) may fare worse than the headline says.",
]


def _scores(result: dict | None) -> dict | None:
    """Each metric of an evaluate result as {value, low, high} (no interval: low and high null)."""
    if result is None:
        return None
    intervals = result.get("ci", {})
    return {"images": result["n"], "fractured": result.get("positives"),  # None for the region task
            **{key: {"value": result.get(key), "low": intervals.get(key, {}).get("low"),
                     "high": intervals.get(key, {}).get("high")} for key in METRICS if key in result}}


def commit_state(folder: Path | str = ".") -> str:
    """The commit a run was made from, and whether tracked files differ from it.

    Asked of libgit2 (pygit2, which DVC's scmrepo also uses), not of the git program: git runs commands that a
    repository's own config names (core.fsmonitor during `git status`, filter drivers, hooks), so a copied or
    planted project folder could run code through the report stage; libgit2 runs none of them.
    """
    import pygit2

    try:
        found = pygit2.discover_repository(str(Path(folder).resolve()))
        if found is None:
            return "unknown (not a git checkout)"
        repository = pygit2.Repository(found)
        if repository.head_is_unborn:
            return "unknown (no commit yet)"
        head = str(repository.head.target)
        changed = repository.status(untracked_files="no")
    except (pygit2.GitError, KeyError, ValueError, OSError):
        return "unknown (not a git checkout)"
    dirty = any(flags & ~pygit2.enums.FileStatus.IGNORED for flags in changed.values())
    return head + (" with uncommitted changes (an experiment's params, say)" if dirty else "")


def _model_details(params: dict, train: dict, enhance: dict) -> dict:
    model = params["model"]
    return {"name": f"fracture classifier ({model['arch']})", "architecture": model["arch"], "task": model["task"],
            "pretrained_weights": pretrained_weights(model["arch"], bool(model["pretrained"])),
            "input": {"image_size": enhance["image_size"], "fit": enhance["fit"], "filters": enhance["filters"],
                      "normalisation": "the ImageNet statistics of the pretrained weights, on one grey channel"
                      if model["pretrained"] else "the training split's grey-level mean and standard deviation"},
            "thresholds": {"image": train.get("threshold"), "study": train.get("study_threshold"),
                           "method": params["train"]["threshold"]},
            "project_version": __version__, "commit": commit_state(),
            "date": datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
            "license": "MIT (this project's code); the weights inherit the terms of their training data"}


def _counts(split: dict, name: str) -> dict:
    counts = split["splits"][name]
    return {"images": counts["images"], "fractured": counts["abnormal"], "by_region": counts["by_region"]}


def _training_data(params: dict, filtered: dict, split: dict) -> dict:
    source = params["data"]["source"]
    return {"source": source, **DATA_SOURCES[source], "regions": filtered["regions"],
            "train": _counts(split, "train"), "validation": _counts(split, "val"),
            "grouping": split["grouping"]}


def _external_entry(name: str, metrics: dict, test_counts: dict) -> dict:
    data = metrics["data"]
    return {"name": name, "source": data["source"], "path": data["path"], "regions": data["regions"],
            "images": data["images"], "fractured": data["fractured"], "prevalence": data["prevalence"],
            "by_region": data["by_region"], "rejected": data["filter"]["rejected"],
            "image": _scores(metrics["image"]), "study": _scores(metrics.get("study")),
            "by_region_metrics": {region: _scores(scores) for region, scores in metrics["by_region"].items()},
            "differences": what_differs(test_counts, data)}


def _quantitative(evaluation: dict) -> dict:
    test, shortcuts = evaluation["test"], evaluation.get("shortcuts") or {}
    without = shortcuts.get("without")
    return {"image": _scores(test["image"]), "study": _scores(test.get("study")),
            "by_region": {region: _scores(scores) for region, scores in evaluation["test_by_region"].items()},
            "calibration_ece": test["image"].get("ece"),
            "localisation": evaluation.get("localisation"),
            "shortcuts": [{key: finding[key] for key in ("covariate", "kind", "reason", "text")}
                          for finding in shortcuts.get("found", [])],
            "without_shortcuts": {"restriction": without["text"], "image": _scores(without["image"])}
            if without else None}


def _caveats(params: dict, train: dict, split: dict, evaluation: dict, external: list[dict]) -> list[str]:
    image = evaluation["test"]["image"]
    said = []
    if params["data"]["source"] == "synthetic":
        said.append("Trained and tested on synthetic phantom radiographs: these figures show that the pipeline "
                    "works and say nothing about clinical performance.")
    interval = image.get("ci", {}).get("auc")
    rests_on = f"{image['positives']} fractured of {image['n']}" if "positives" in image else str(image["n"])
    said.append(f"The test ROC-AUC rests on {rests_on} images"
                + (f"; its interval is {interval['high'] - interval['low']:.2f} wide." if interval else "."))
    said += [GROUPING_CAVEATS[kind] for kind in split["grouping"]["kinds"] if kind in GROUPING_CAVEATS]
    prevalence = {name: split["splits"][name]["abnormal"] / split["splits"][name]["images"]
                  for name in ("train", "val", "test")}
    if max(prevalence.values()) - min(prevalence.values()) >= 0.05:
        said.append("Prevalence differs between splits: " + ", ".join(f"{name} {share:.0%}" for name, share in
                                                                     prevalence.items()) + ".")
    said += [f"Outside set {entry['name']}: {sentence}" for entry in external for sentence in entry["differences"]]
    shortcuts = evaluation.get("shortcuts") or {}
    said += [f"Possible shortcut {finding['covariate']} ({finding['reason']})."
             for finding in shortcuts.get("found", [])]
    annotated = (evaluation.get("localisation") or {}).get("annotated") or {}
    if annotated.get("images") and annotated["hit"]["high"] < annotated["chance_hit"]["value"]:
        said.append(f"Grad-CAM's maximum falls on the annotated fracture less often than a centred map's "
                    f"({annotated['hit']['value']:.3f} against {annotated['chance_hit']['value']:.3f}): the model's "
                    f"ranking does not come from looking at the fracture.")
    if train["val_output_spread"] < COLLAPSED_SPREAD:
        said.append("The model did not learn: its validation probabilities barely vary.")
    said.append("Thresholds were frozen on validation films of the training source; check them on a new "
                "population before relying on its sensitivity or specificity.")
    return said


def model_card(params: dict, outputs, external: dict[str, dict]) -> dict:
    """The card as a dict, checked against the schema; `outputs` is the report's RunOutputs."""
    train, split, evaluation = outputs.json("train/metrics.json"), outputs.json("split.json"), outputs.evaluation()
    filtered, enhance = outputs.json("filter.json"), outputs.json("enhance/metrics.json")
    test_counts = split["splits"]["test"]["by_region"]
    sets = [_external_entry(name, metrics, test_counts) for name, metrics in external.items()]
    covariates = sorted(evaluation.get("test_by_subgroup") or {})
    card = {
        "schema_version": 1,
        "model_details": _model_details(params, train, enhance),
        "intended_use": INTENDED_USE,
        "factors": {"evaluated": ["region"] + covariates,
                    "relevant": "Body region, view, patient age and sex, orthopaedic hardware, casts, the device "
                                "and site that took the film, and image geometry."},
        "metrics": {"reported": list(METRICS) + ["calibration_ece", "pointing_game"],
                    "thresholds": "chosen on the validation split and frozen before testing",
                    "intervals": f"{params['evaluate']['ci_level']:.0%} bootstrap over "
                                 f"{split['grouping']['unit']}, {params['evaluate']['bootstrap_resamples']} resamples"},
        "training_data": _training_data(params, filtered, split),
        "evaluation_data": {"test": _counts(split, "test"), "external": [
            {key: entry[key] for key in ("name", "source", "path", "regions", "images", "fractured", "prevalence",
                                         "by_region", "rejected")} for entry in sets]},
        "quantitative_analyses": {"test": _quantitative(evaluation), "external": [
            {key: entry[key] for key in ("name", "image", "study", "by_region_metrics", "differences")}
            for entry in sets]},
        "ethical_considerations": ETHICAL_CONSIDERATIONS,
        "caveats_and_recommendations": _caveats(params, train, split, evaluation, sets),
    }
    jsonschema.validate(card, json.loads(SCHEMA.read_text()))
    return card


def _interval(scores: dict | None, key: str) -> str:
    estimate = (scores or {}).get(key) or {}
    return fmt_ci(estimate.get("value"), estimate.get("low"), estimate.get("high"))


def _metric_lines(scores: dict | None, label: str, unit: str = "images") -> list[str]:
    if not scores:
        return []
    if scores["fractured"] is None:  # the region task
        return [f"- {label} ({scores['images']} {unit}): macro ROC-AUC {_interval(scores, 'auc')}, accuracy "
                f"{_interval(scores, 'accuracy')}"]
    few = min(scores["fractured"], scores["images"] - scores["fractured"]) < MIN_CASES
    return [f"- {label} ({scores['images']} {unit}, {scores['fractured']} fractured): ROC-AUC "
            f"{_interval(scores, 'auc')}, sensitivity {_interval(scores, 'sensitivity')}, specificity "
            f"{_interval(scores, 'specificity')}" + (f" ({TOO_SMALL})" if few else "")]


def _as_text(value):
    """Every string of the card as Markdown shows it as written (see `markdown_text`); the JSON card keeps them raw."""
    if isinstance(value, str):
        return markdown_text(value)
    if isinstance(value, dict):
        return {_as_text(key): _as_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_text(item) for item in value]
    return value


def card_markdown(card: dict) -> str:
    """The card for people to read."""
    card = _as_text(card)
    details, training, test = card["model_details"], card["training_data"], card["quantitative_analyses"]["test"]
    lines = [f"# Model card: {details['name']}", "", "## Model details",
             f"- Architecture: {details['architecture']}, task {details['task']}; input "
             f"{details['input']['image_size']} px ({details['input']['fit']}), filters "
             f"{', '.join(details['input']['filters'])}, normalised by {details['input']['normalisation']}.",
             f"- Pretrained weights: {details['pretrained_weights']['source']}; license: "
             f"{details['pretrained_weights']['license']}.",
             f"- Thresholds (frozen on validation, {details['thresholds']['method']}): image "
             f"{fmt(details['thresholds']['image'])}, study {fmt(details['thresholds']['study'])}.",
             f"- fracture {details['project_version']}, commit {details['commit']}, card written {details['date']}; "
             f"{details['license']}.", "", "## Intended use", f"- Primary uses: "
             f"{card['intended_use']['primary_uses']}", f"- Primary users: {card['intended_use']['primary_users']}",
             "- Out of scope:"] + [f"  - {item}" for item in card["intended_use"]["out_of_scope"]]
    lines += ["", "## Factors", f"- Evaluated: {', '.join(card['factors']['evaluated'])}.",
              f"- Relevant: {card['factors']['relevant']}", "", "## Metrics",
              f"- {', '.join(card['metrics']['reported'])}; thresholds {card['metrics']['thresholds']}; intervals: "
              f"{card['metrics']['intervals']}.", "", "## Training data",
              f"- {training['name']} (source `{training['source']}`), license: {training['license']}."
              + (f" Cite: {training['citation']}" if training["citation"] else ""),
              f"- Regions {', '.join(training['regions'])}; train {training['train']['images']} images "
              f"({training['train']['fractured']} fractured), validation {training['validation']['images']} "
              f"({training['validation']['fractured']} fractured); grouped by {training['grouping']['description']}.",
              "", "## Evaluation data",
              f"- Test split: {card['evaluation_data']['test']['images']} images "
              f"({card['evaluation_data']['test']['fractured']} fractured)."]
    lines += [f"- Outside set {entry['name']} ({entry['source']}, {entry['path']}, regions "
              f"{', '.join(entry['regions'])}): {entry['images']} images ({entry['fractured']} fractured, "
              f"prevalence {entry['prevalence']:.0%})."
              for entry in card["evaluation_data"]["external"]]
    lines += ["", "## Quantitative analyses"] + _metric_lines(test["image"], "Test, per image") \
        + _metric_lines(test["study"], "Test, per study", "studies") \
        + [line for region, scores in test["by_region"].items() for line in _metric_lines(scores, f"Test, {region}")]
    if test["calibration_ece"] is not None:
        lines.append(f"- Calibration error (ECE), test images: {test['calibration_ece']:.3f}")
    annotated = (test["localisation"] or {}).get("annotated") or {}
    if annotated.get("images"):
        lines.append(f"- Pointing game ({annotated['images']} annotated fractured test images): "
                     f"{_interval(annotated, 'hit')}; a centred map: {annotated['chance_hit']['value']:.3f}")
    if test["without_shortcuts"]:
        lines += _metric_lines(test["without_shortcuts"]["image"], f"Test, {test['without_shortcuts']['restriction']}")
    for entry in card["quantitative_analyses"]["external"]:
        lines += _metric_lines(entry["image"], f"Outside set {entry['name']}, per image")
        lines += [line for region, scores in entry["by_region_metrics"].items()
                  for line in _metric_lines(scores, f"Outside set {entry['name']}, {region}")]
        lines += [f"  - {sentence}" for sentence in entry["differences"]]
    lines += ["", "## Ethical considerations"] + [f"- {item}" for item in card["ethical_considerations"]]
    lines += ["", "## Caveats and recommendations"] + [f"- {item}" for item in card["caveats_and_recommendations"]]
    return "\n".join(lines) + "\n"
