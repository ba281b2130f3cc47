"""The model card: the sections of a model card drawn from a run's outputs (hand-made, tests/reporting/runs.py), its
JSON checked against the schema and raw, its Markdown escaped; and its commit read without running anything a
repository's config names."""

import json
import re
import subprocess

import jsonschema
import pytest

from fracture.reporting import card as card_module
from fracture.reporting.card import SCHEMA, card_markdown, commit_state, model_card
from fracture.reporting.document import markdown_text
from fracture.reporting.provenance import DATA_SOURCES
from tests.conftest import git
from tests.reporting import runs


def _planted_repository(path):
    """A project folder whose git config runs a command on `git status` (core.fsmonitor) and whose filter driver
    runs one whenever a file is hashed: what a copied or planted folder could hold."""
    path.mkdir()
    git(path, "init", "-q")
    (path / ".gitattributes").write_text("* filter=planted\n")
    (path / "params.yaml").write_text("train: {}\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "a project")
    for key, marker in (("core.fsmonitor", "FSMONITOR_RAN"), ("filter.planted.clean", "FILTER_RAN")):
        git(path, "config", key, f"touch {path / marker}; cat")
    git(path, "config", "core.hooksPath", str(path / "hooks"))
    return path


def test_the_commit_is_read_without_running_the_repositorys_commands(tmp_path):
    project = _planted_repository(tmp_path / "project")
    head = git(project, "rev-parse", "HEAD").stdout.strip()
    assert commit_state(project) == head
    (project / "params.yaml").write_text("train: {seed: 1}\n")
    assert commit_state(project) == f"{head} with uncommitted changes (an experiment's params, say)"
    assert not list(project.glob("*_RAN")), "nothing the repository's config names ran"
    subprocess.run(["git", "status", "--porcelain"], cwd=project, capture_output=True)
    assert (project / "FSMONITOR_RAN").exists(), "the plant is real: the git program runs it"


def test_a_folder_that_is_no_checkout_says_so(tmp_path):
    assert commit_state(tmp_path) == "unknown (not a git checkout)"


@pytest.fixture
def commit(monkeypatch):
    """The commit every card of these tests is written from."""
    monkeypatch.setattr(card_module, "commit_state", lambda: "0123abc")
    return "0123abc"


def _card(tmp_path, params=None, external=None, **files) -> dict:
    """The card of a run made of the builders' files, `files` replacing some of them."""
    return model_card(params or runs.params(), runs.write_run(tmp_path / "reports", **files), external or {})


def test_the_card_has_the_sections_of_a_model_card_and_passes_its_schema(tmp_path, commit):
    card = _card(tmp_path)
    schema = json.loads(SCHEMA.read_text())
    assert list(card) == schema["required"]
    jsonschema.validate(json.loads(json.dumps(card)), schema)
    text = card_markdown(card)
    assert re.findall(r"^## (.+)$", text, re.MULTILINE) == [
        "Model details", "Intended use", "Factors", "Metrics", "Training data", "Evaluation data",
        "Quantitative analyses", "Ethical considerations", "Caveats and recommendations"]
    assert text.startswith("# Model card: fracture classifier (resnet18)\n")
    assert "not a medical device" in text and "python -m fracture validate" in text
    details = card["model_details"]
    assert details["commit"] == commit and f"commit {commit}, card written {details['date']}" in text
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", details["date"])
    assert details["input"] == {"image_size": 224, "fit": "letterbox", "filters": ["clahe", "median"],
                                "normalisation": "the ImageNet statistics of the pretrained weights, on one grey "
                                                 "channel"}


def test_a_card_the_schema_refuses_is_not_made(tmp_path, commit):
    params = runs.params()
    params["model"]["task"] = "bones"
    with pytest.raises(jsonschema.ValidationError, match="'bones' is not one of"):
        _card(tmp_path, params=params)


@pytest.mark.parametrize("source", sorted(DATA_SOURCES))
def test_the_training_data_is_named_with_its_licence_and_citation(tmp_path, commit, source):
    card = _card(tmp_path, params=runs.params(source=source))
    provenance = DATA_SOURCES[source]
    assert {key: card["training_data"][key] for key in ("source", "name", "license", "citation")} \
        == {"source": source, **provenance}
    text = card_markdown(card)
    assert f"- {markdown_text(provenance['name'])} (source `{source}`), license: " \
           f"{markdown_text(provenance['license'])}." in text
    assert ("Cite: " in text) == bool(provenance["citation"])
    assert markdown_text(provenance["citation"]) in text


def test_the_training_data_counts_the_splits_and_their_grouping(tmp_path, commit):
    card = _card(tmp_path)
    training = card["training_data"]
    assert training["train"] == {"images": 350, "fractured": 140, "by_region": {"hand": {"abnormal": 75, "normal": 75},
                                                                               "leg": {"abnormal": 65, "normal": 135}}}
    assert card["evaluation_data"]["test"]["images"] == 120 and card["evaluation_data"]["external"] == []
    text = card_markdown(card)
    assert "- Regions hand, leg; train 350 images (140 fractured), validation 120 (48 fractured); grouped by " \
           "patients." in text and "- Test split: 120 images (48 fractured)." in text


@pytest.mark.parametrize("pretrained, weights", [
    (True, {"source": "torchvision's default ImageNet-1k weights for resnet18",
            "license": "torchvision: BSD-3-Clause; ImageNet's terms of access apply to the data they were trained on"}),
    (False, {"source": "none: trained from random initialisation", "license": "not applicable"})])
def test_the_starting_weights_are_named_with_their_terms(tmp_path, commit, pretrained, weights):
    params = runs.params()
    params["model"]["pretrained"] = pretrained
    card = _card(tmp_path, params=params)
    assert card["model_details"]["pretrained_weights"] == weights
    assert f"- Pretrained weights: {weights['source']}; license: {weights['license']}." in card_markdown(card)
    assert ("grey-level mean" in card["model_details"]["input"]["normalisation"]) == (not pretrained)


def test_the_metrics_carry_their_intervals(tmp_path, commit):
    card = _card(tmp_path)
    test = card["quantitative_analyses"]["test"]
    assert test["image"]["images"] == 120 and test["image"]["fractured"] == 48
    assert test["image"]["auc"] == {"value": 0.85, "low": 0.75, "high": 0.9}
    assert test["study"]["auc"] == {"value": 0.884, "low": 0.784, "high": 0.934}
    assert test["by_region"]["hand"]["auc"] == {"value": 0.71, "low": 0.61, "high": 0.76}
    assert test["calibration_ece"] == 0.065 and test["localisation"]["annotated"]["images"] == 30
    assert card["metrics"]["intervals"] == "95% bootstrap over patients, 1000 resamples"
    text = card_markdown(card)
    assert "- Test, per image (120 images, 48 fractured): ROC-AUC 0.850 [0.750, 0.900], sensitivity " \
           "0.700 [0.600, 0.750], specificity 0.800 [0.700, 0.850]\n" in text
    assert "- Test, per study (44 studies, 18 fractured): ROC-AUC 0.884 [0.784, 0.934]" in text
    assert "- Test, hand (60 images, 30 fractured): ROC-AUC 0.710 [0.610, 0.760]" in text
    assert "- Calibration error (ECE), test images: 0.065" in text
    assert "- Pointing game (30 annotated fractured test images): 0.600 [0.450, 0.750]; a centred map: 0.200" in text


def test_a_metric_without_an_interval_has_null_ends(tmp_path, commit):
    evaluation = runs.fracture_metrics()
    del evaluation["test"]["image"]["ci"]
    card = _card(tmp_path, evaluation=evaluation)
    assert card["quantitative_analyses"]["test"]["image"]["auc"] == {"value": 0.85, "low": None, "high": None}
    assert "ROC-AUC 0.850, sensitivity 0.700, specificity 0.800" in card_markdown(card)
    assert "The test ROC-AUC rests on 48 fractured of 120 images." in card["caveats_and_recommendations"]


def test_a_small_subset_is_flagged_too_few_to_say(tmp_path, commit):
    evaluation = runs.fracture_metrics()
    evaluation["test_by_region"]["leg"] = runs.binary_result(60, 5, auc=0.93)
    text = card_markdown(_card(tmp_path, evaluation=evaluation))
    assert "- Test, leg (60 images, 5 fractured): ROC-AUC 0.930 [0.830, 0.980], sensitivity 0.700 [0.600, 0.750], " \
           "specificity 0.800 [0.700, 0.850] (too few to say)" in text
    assert "- Test, hand (60 images, 30 fractured)" in text and text.count("too few to say") == 1


def test_the_thresholds_are_raw_in_json_and_readable_in_markdown(tmp_path, commit):
    card = _card(tmp_path)
    assert card["model_details"]["thresholds"] == {"image": 0.354, "study": 0.38, "method": "youden"}
    assert "- Thresholds (frozen on validation, youden): image 0.354, study 0.380." in card_markdown(card)
    card = _card(tmp_path, train={**runs.train_report(), "study_threshold": None})
    assert card["model_details"]["thresholds"]["study"] is None
    assert "image 0.354, study n/a." in card_markdown(card), "no Python None in the card people read"


def test_a_region_model_has_a_card_without_fractures_or_thresholds(tmp_path, commit):
    train = {key: value for key, value in runs.train_report().items() if "threshold" not in key}
    card = _card(tmp_path, params=runs.params(task="region"), evaluation=runs.region_metrics(), train=train)
    test = card["quantitative_analyses"]["test"]
    assert test["image"]["fractured"] is None and test["study"] is None and test["localisation"] is None
    assert test["image"]["auc"] == {"value": 0.93, "low": 0.9, "high": 0.96}
    assert card["model_details"]["thresholds"] == {"image": None, "study": None, "method": "youden"}
    text = card_markdown(card)
    assert "- Test, per image (120 images): macro ROC-AUC 0.930 [0.900, 0.960], accuracy 0.800 [0.720, 0.870]" in text
    assert "image n/a, study n/a." in text and "None" not in text
    assert "The test ROC-AUC rests on 120 images; its interval is 0.06 wide." in card["caveats_and_recommendations"]


def test_a_sound_run_gets_only_the_caveats_every_run_gets(tmp_path, commit):
    assert _card(tmp_path)["caveats_and_recommendations"] == [
        "The test ROC-AUC rests on 48 fractured of 120 images; its interval is 0.15 wide.",
        "Thresholds were frozen on validation films of the training source; check them on a new population before "
        "relying on its sensitivity or specificity."]


def test_each_weakness_of_a_run_is_a_caveat(tmp_path, commit):
    split, evaluation = runs.split_report(), runs.fracture_metrics()
    split["grouping"]["kinds"] = {"pseudo_patient": 500, "image": 90}
    split["splits"]["test"]["abnormal"] = 30  # 25% against 40% in train and validation
    evaluation["localisation"]["annotated"]["hit"] = runs.estimate(0.1, 0.05, 0.15)  # below the centred map's 0.2
    card = _card(tmp_path, params=runs.params(source="synthetic"), split=split, evaluation=evaluation,
                 train={**runs.train_report(), "val_output_spread": 0.001})
    caveats = card["caveats_and_recommendations"]
    assert caveats[0].startswith("Trained and tested on synthetic phantom radiographs")
    assert {card_module.GROUPING_CAVEATS[kind] for kind in ("pseudo_patient", "image")} <= set(caveats)
    assert "Prevalence differs between splits: train 40%, val 40%, test 25%." in caveats
    assert "Grad-CAM's maximum falls on the annotated fracture less often than a centred map's (0.100 against " \
           "0.200): the model's ranking does not come from looking at the fracture." in caveats
    assert "The model did not learn: its validation probabilities barely vary." in caveats
    assert caveats[-1].startswith("Thresholds were frozen on validation films")


def test_a_shortcut_is_a_finding_a_factor_and_a_caveat(tmp_path, commit):
    evaluation = runs.fracture_metrics()
    without = runs.binary_result(100, 30, auc=0.78)
    evaluation["test_by_subgroup"] = {"view": {}, "hardware": {}}
    evaluation["shortcuts"] = {"found": [{"covariate": "hardware", "kind": "one_label_level",
                                          "reason": "hardware = 1: 12 training images, all fractured",
                                          "text": "without hardware = 1", "test": without}],
                               "without": {"text": "without hardware = 1", "image": without}}
    card = _card(tmp_path, evaluation=evaluation)
    assert card["factors"]["evaluated"] == ["region", "hardware", "view"]
    test = card["quantitative_analyses"]["test"]
    assert test["shortcuts"] == [{"covariate": "hardware", "kind": "one_label_level",
                                  "reason": "hardware = 1: 12 training images, all fractured",
                                  "text": "without hardware = 1"}]
    assert test["without_shortcuts"]["restriction"] == "without hardware = 1"
    assert test["without_shortcuts"]["image"]["auc"] == {"value": 0.78, "low": 0.68, "high": 0.83}
    assert "Possible shortcut hardware (hardware = 1: 12 training images, all fractured)." \
        in card["caveats_and_recommendations"]
    assert "- Test, without hardware = 1 (100 images, 30 fractured): ROC-AUC 0.780 [0.680, 0.830]" \
        in card_markdown(card)


def test_an_outside_set_is_described_measured_and_compared(tmp_path, commit):
    card = _card(tmp_path, external={"clinic": runs.outside_set()})
    assert card["evaluation_data"]["external"] == [
        {"name": "clinic", "source": "folder", "path": "/data/clinic", "regions": ["hand"], "images": 40,
         "fractured": 20, "prevalence": 0.5, "by_region": {"hand": {"abnormal": 20, "normal": 20}},
         "rejected": {"blank": 2}}]
    measured = card["quantitative_analyses"]["external"][0]
    assert measured["image"]["auc"] == {"value": 0.66, "low": 0.56, "high": 0.71} and measured["study"] is None
    assert [sentence.split(":")[0] for sentence in measured["differences"]] \
        == ["Prevalence differs", "Region mix differs (total variation 0.50)"]
    assert [caveat for caveat in card["caveats_and_recommendations"] if caveat.startswith("Outside set clinic: ")] \
        == [f"Outside set clinic: {sentence}" for sentence in measured["differences"]]
    text = card_markdown(card)
    assert "- Outside set clinic (folder, /data/clinic, regions hand): 40 images (20 fractured, prevalence 50%)." \
        in text
    assert "- Outside set clinic, per image (40 images, 20 fractured): ROC-AUC 0.660 [0.560, 0.710]" in text


def test_a_users_values_are_text_in_markdown_and_raw_in_json(tmp_path, commit):
    hostile = "<img src=x onerror=alert(1)>](javascript:alert(1))\n# Hacked"
    filtered, outside = runs.filter_report(), runs.outside_set()
    filtered["regions"] = [hostile]
    outside["data"]["path"] = hostile
    card = _card(tmp_path, filtered=filtered, external={hostile: outside})
    assert card["training_data"]["regions"] == [hostile] and card["evaluation_data"]["external"][0]["path"] == hostile
    assert json.loads(json.dumps(card))["quantitative_analyses"]["external"][0]["name"] == hostile
    text = card_markdown(card)
    assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    assert "](javascript" not in text and "\n# Hacked" not in text
    assert card["training_data"]["regions"] == [hostile], "rendering leaves the card as it was"
