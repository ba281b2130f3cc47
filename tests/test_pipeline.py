"""End to end: `dvc repro` on tiny params in a temporary git repo, then experiments."""

import json

import pytest

from fracture.metrics import COLLAPSED_SPREAD
from fracture.models import ARCHITECTURES
from tests.conftest import REPO, copy_project, dvc, stages_run, tiny_params

ALL_STAGES = ["download", "filter", "split", "enhance", "train", "evaluate", "report"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = copy_project(tmp_path_factory.mktemp("pipeline"), tiny_params())
    result = dvc(root, "repro")
    assert stages_run(result.stdout) == ALL_STAGES
    return root


def test_repro_writes_every_stage_output(project):
    for path in ["data/raw/manifest.csv", "data/filtered/manifest.csv", "data/split/manifest.csv",
                 "data/processed/images.npy", "models/model.pt", "reports/filter.json", "reports/split.json",
                 "reports/enhance/metrics.json", "reports/enhance/montage.png", "reports/train/metrics.json",
                 "reports/eval/metrics.json", "reports/eval/predictions.csv", "reports/eval/plots/calibration.csv",
                 "reports/eval/gradcam/true_negative_1.png", "reports/report.md", "reports/report.html"]:
        assert (project / path).is_file(), path
    metrics = json.loads((project / "reports/eval/metrics.json").read_text())
    assert {"image", "study"} == set(metrics["test"]) and 0 <= metrics["test"]["image"]["auc"] <= 1
    assert metrics["test"]["image"]["ci"]["auc"]["low"] <= metrics["test"]["image"]["auc"]
    trained = json.loads((project / "reports/train/metrics.json").read_text())
    assert (metrics["threshold"], metrics["study_threshold"]) == (trained["threshold"], trained["study_threshold"])
    report = (project / "reports/report.md").read_text()
    assert ("did not learn" in report) == (trained["val_output_spread"] < COLLAPSED_SPREAD)
    html = (project / "reports/report.html").read_text()
    assert html.count('src="data:image/png;base64,') == 7 and 'src="figures' not in html


def test_second_repro_does_nothing(project):
    result = dvc(project, "repro")
    assert stages_run(result.stdout) == [] and "up to date" in result.stdout


def test_retraining_gives_identical_metrics(project):
    before = (project / "reports/eval/metrics.json").read_bytes()
    result = dvc(project, "repro", "--force", "--single-item", "train", "evaluate")
    assert stages_run(result.stdout) == ["train", "evaluate"]
    assert (project / "reports/eval/metrics.json").read_bytes() == before


def test_metrics_and_plots_are_declared(project):
    shown = dvc(project, "metrics", "show", "--json").stdout
    assert "reports/eval/metrics.json" in shown and "reports/filter.json" in shown
    plots = dvc(project, "plots", "show", "--json").stdout
    for name in ("roc.csv", "pr.csv", "confusion.csv", "calibration.csv", "val/auc.tsv"):
        assert name in plots


@pytest.mark.parametrize("arch", [arch for arch in ARCHITECTURES if arch != "simple_cnn"])
def test_an_architecture_experiment_reruns_only_train_evaluate_report(project, arch):
    result = dvc(project, "exp", "run", "-S", f"model.arch={arch}", "-S", "train.epochs=1")
    assert stages_run(result.stdout) == ["train", "evaluate", "report"]
    table = dvc(project, "exp", "show", "--json").stdout
    assert arch in table
    diff = dvc(project, "metrics", "diff", "HEAD", "--json").stdout
    assert "reports/eval/metrics.json" in diff
    assert (project / "dvc.yaml").read_text() == (REPO / "dvc.yaml").read_text(), "dvclive left dvc.yaml alone"


def test_the_region_task_is_an_experiment_too(project):
    result = dvc(project, "exp", "run", "-S", "model.task=region", "-S", "model.arch=simple_cnn")
    assert stages_run(result.stdout) == ["train", "evaluate", "report"]
    metrics = json.loads((project / "reports/eval/metrics.json").read_text())
    assert metrics["task"] == "region" and len(metrics["test"]["image"]["per_class"]) >= 3
    assert "By class" in (project / "reports/report.md").read_text()
