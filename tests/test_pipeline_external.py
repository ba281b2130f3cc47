"""End to end with an outside set: `dvc repro` runs one external stage per set of `evaluate.external`, DVC tracks
its metrics, the report and the model card show it, and `python -m fracture validate` gives the same numbers."""

import json

import jsonschema
import pytest
import yaml

from fracture.reporting.card import SCHEMA, card_markdown, model_card
from fracture.reporting.content import RunOutputs
from tests.conftest import copy_project, dvc, stages_run, tiny_params
from tests.test_pipeline import _fracture_cli

pytestmark = pytest.mark.e2e

STAGES = ["download", "filter", "split", "enhance", "train", "export", "evaluate", "external@made_up", "report"]


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_synthetic):
    """The tiny pipeline, with another synthetic draw (seed 7, no image in common) as the outside set."""
    outside = {"made_up": {"source": "mura", "path": str(tiny_synthetic)}}
    root = copy_project(tmp_path_factory.mktemp("external"), tiny_params(**{"evaluate.external": outside}))
    result = dvc(root, "repro")
    assert sorted(stages_run(result.stdout)) == sorted(STAGES), result.stdout
    return root


def test_the_outside_set_is_measured_tracked_and_reported(project):
    metrics = json.loads((project / "reports/external/made_up/metrics.json").read_text())
    assert metrics["data"]["source"] == "mura" and metrics["data"]["images"] > 0
    assert 0 <= metrics["image"]["ci"]["auc"]["low"] <= metrics["image"]["auc"] <= metrics["image"]["ci"]["auc"]["high"]
    assert "study" in metrics, "MURA-layout studies have several views"
    assert "reports/external/made_up/metrics.json" in dvc(project, "metrics", "show", "--json").stdout
    assert "reports/external/made_up/plots" in dvc(project, "plots", "show", "--json").stdout
    report = (project / "reports/report.md").read_text()
    assert "### Outside sets" in report and "#### made_up" in report
    card = json.loads((project / "reports/model_card.json").read_text())
    jsonschema.validate(card, json.loads(SCHEMA.read_text()))
    assert [entry["name"] for entry in card["quantitative_analyses"]["external"]] == ["made_up"]
    assert "Outside set made_up" in (project / "reports/model_card.md").read_text()


def test_validate_gives_the_numbers_of_the_pipeline_for_the_same_model_and_set(project, tiny_synthetic):
    result = _fracture_cli(project, "validate", str(tiny_synthetic), "--source", "mura", "--name", "made_up",
                           "--out", "elsewhere")
    assert result.returncode == 0, result.stderr
    assert (project / "elsewhere/metrics.json").read_bytes() == \
        (project / "reports/external/made_up/metrics.json").read_bytes()
    assert (project / "elsewhere/predictions.csv").read_bytes() == \
        (project / "reports/external/made_up/predictions.csv").read_bytes()


def test_the_training_data_is_refused_as_an_outside_set(project):
    result = _fracture_cli(project, "validate", "data/raw/source", "--source", "mura", "--out", "refused")
    assert result.returncode == 1 and "identical (sha256) to images the model was trained or tuned on" in result.stderr
    assert not (project / "refused").exists()


def test_a_run_without_outside_sets_still_has_a_complete_card(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    card = model_card(params, RunOutputs(project / "reports"), {})
    assert card["evaluation_data"]["external"] == [] and card["quantitative_analyses"]["test"]["image"]["auc"]
    assert any("synthetic" in caveat for caveat in card["caveats_and_recommendations"])
    assert any("fractured of" in caveat for caveat in card["caveats_and_recommendations"])
    schema = json.loads(SCHEMA.read_text())
    for section in schema["required"]:
        incomplete = {key: value for key, value in card.items() if key != section}
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(incomplete, schema)


def test_the_cards_markdown_shows_a_users_values_as_text_and_its_json_keeps_them(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    card = model_card(params, RunOutputs(project / "reports"), {})
    hostile = "<script>alert(1)</script>|\n# Hacked"
    card["training_data"]["regions"] = [hostile]
    card["quantitative_analyses"]["test"]["by_region"] = {hostile: card["quantitative_analyses"]["test"]["image"]}
    text = card_markdown(card)
    assert "<script>" not in text and "&lt;script&gt;" in text and "\n# Hacked" not in text
    assert card["training_data"]["regions"] == [hostile], "the JSON card keeps the value as it is"
