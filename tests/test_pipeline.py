"""End to end: `dvc repro` on tiny params in a temporary git repo, then experiments."""

import json
import subprocess

import pandas as pd
import pytest
import yaml

from fracture.__main__ import main
from fracture.evaluation.metrics import COLLAPSED_SPREAD
from tests.conftest import REPO, copy_project, dvc, git, in_process, stages_run, tiny_params

pytestmark = pytest.mark.e2e

ALL_STAGES = ["download", "filter", "split", "enhance", "train", "export", "evaluate", "report"]


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
                 "reports/eval/gradcam/true_negative_1.png", "reports/report.md", "reports/report.html",
                 "models/model.onnx", "reports/export.json", "reports/model_card.md", "reports/model_card.json"]:
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


def test_an_edited_raw_image_is_restored_though_filter_and_enhance_depend_on_the_manifest(project):
    """Downstream stages depend on data/raw/manifest.csv (its sha256 column stands for the images), so
    DVC walks data/raw only as download's output; an image changed by hand must still be noticed there."""
    image = sorted((project / "data/raw/source").rglob("*.png"))[0]
    original = image.read_bytes()
    image.write_bytes(original[: len(original) // 2])
    assert "modified:           data/raw" in dvc(project, "status").stdout
    result = dvc(project, "repro")
    assert "Stage 'download' is cached - skipping run, checking out outputs" in result.stdout
    assert stages_run(result.stdout) == [] and image.read_bytes() == original, "restored from the cache"


def test_a_team_shares_data_and_models_through_a_dvc_remote(project, tmp_path):
    """Push to a folder remote; a fresh clone pulls and then has nothing to reproduce."""
    dvc(project, "remote", "add", "--default", "team", str(tmp_path / "dvc-store"))
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "the reproduced pipeline and its remote")
    dvc(project, "push")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(project), str(clone))
    dvc(clone, "pull")
    result = dvc(clone, "repro")
    assert stages_run(result.stdout) == [] and "up to date" in result.stdout
    for output in ("models/model.pt", "data/processed/images.npy", "reports/eval/predictions.csv"):
        assert (clone / output).read_bytes() == (project / output).read_bytes(), output


def test_retraining_gives_identical_metrics(project):
    before = (project / "reports/eval/metrics.json").read_bytes()
    result = dvc(project, "repro", "--force", "--single-item", "train", "evaluate")
    assert stages_run(result.stdout) == ["train", "evaluate"]
    assert (project / "reports/eval/metrics.json").read_bytes() == before


def test_metrics_plots_and_the_model_artifact_are_declared(project):
    shown = dvc(project, "metrics", "show", "--json").stdout
    assert "reports/eval/metrics.json" in shown and "reports/filter.json" in shown and "reports/export.json" in shown
    artifacts = yaml.safe_load((project / "dvc.yaml").read_text())["artifacts"]
    assert artifacts["fracture-classifier"]["path"] == "models/model.onnx"
    assert {artifact["type"] for artifact in artifacts.values()} == {"model"}
    plots = dvc(project, "plots", "show", "--json").stdout
    for name in ("roc.csv", "pr.csv", "confusion.csv", "calibration.csv", "val/auc.tsv"):
        assert name in plots


def test_plots_render_offline_with_the_vega_kept_in_the_repository(project):
    dvc(project, "plots", "diff", "--out", "plot-page")  # .dvc/config names plots/offline.html as the template
    page = (project / "plot-page" / "index.html").read_text()
    assert "cdn.jsdelivr" not in page and "<script src=" not in page
    assert 'var e="5.20.2"' in page and "vegaEmbed('#" in page  # vega inlined, and DVC's plots embedded with it


# Every architecture takes a training step in tests/models/test_architectures.py and gets a Grad-CAM in
# tests/inference/test_gradcam.py, and vgg16's export is checked in tests/inference/test_export.py; here timm's
# smallest EfficientNet (100k weights) stands for the experiment path, through `timm/<name>`, the ONNX export and
# its parity, and Grad-CAM (vgg16 here cost two minutes of the suite, most of it a 528 MB export).
@pytest.mark.parametrize("arch", ["timm/test_efficientnet"])
def test_an_architecture_experiment_reruns_only_train_evaluate_report(project, arch):
    result = dvc(project, "exp", "run", "-S", f"model.arch={arch}", "-S", "train.epochs=1")
    assert stages_run(result.stdout) == ["train", "export", "evaluate", "report"]
    exported = json.loads((project / "reports/export.json").read_text())
    assert exported["arch"] == arch and exported["max_abs_difference"] <= exported["limit"]
    table = dvc(project, "exp", "show", "--json").stdout
    assert arch in table
    diff = dvc(project, "metrics", "diff", "HEAD", "--json").stdout
    assert "reports/eval/metrics.json" in diff
    assert (project / "dvc.yaml").read_text() == (REPO / "dvc.yaml").read_text(), "dvclive left dvc.yaml alone"


def test_a_fracture_map_with_regressed_boxes_and_platt_scaling_runs_through_every_stage(project):
    subprocess.run(["git", "checkout", "--", "params.yaml"], cwd=project, check=True)  # undo earlier -S
    result = dvc(project, "exp", "run", "-S", "model.head=map", "-S", "model.map_box=regressed",
                 "-S", "train.calibration=platt", "-S", "train.epochs=1")
    assert stages_run(result.stdout) == ["train", "export", "evaluate", "report"]
    fitted = json.loads((project / "reports/train/metrics.json").read_text())["calibration"]
    assert fitted["method"] == "platt" and fitted["bias"] != 0.0 and fitted["val_ece_after"] <= fitted["val_ece_before"]
    metrics = json.loads((project / "reports/eval/metrics.json").read_text())
    assert (metrics["calibration"]["temperature"], metrics["calibration"]["bias"]) == (fitted["temperature"],
                                                                                       fitted["bias"])
    assert metrics["map_localisation"]["annotated"]["images"] > 0 and "ap50" in metrics["detection"]
    exported = json.loads((project / "reports/export.json").read_text())
    assert exported["max_abs_difference"] <= exported["limit"] and "map_max_abs_difference" in exported
    assert "box_max_abs_difference" in exported
    assert "Where the fracture map points" in (project / "reports/report.md").read_text()


def test_the_region_task_is_an_experiment_too(project):
    subprocess.run(["git", "checkout", "--", "params.yaml"], cwd=project, check=True)  # undo earlier -S
    result = dvc(project, "exp", "run", "-S", "model.task=region", "-S", "model.arch=simple_cnn")
    assert stages_run(result.stdout) == ["train", "export", "evaluate", "report"]
    metrics = json.loads((project / "reports/eval/metrics.json").read_text())
    assert metrics["task"] == "region" and len(metrics["test"]["image"]["per_class"]) >= 3
    assert "By class" in (project / "reports/report.md").read_text()
    card = json.loads((project / "reports/model_card.json").read_text())
    assert card["model_details"]["task"] == "region" and card["quantitative_analyses"]["test"]["image"]["auc"]


def _fracture_cli(project, *args) -> subprocess.CompletedProcess:
    """`python -m fracture ...` run from the project copy, in this process (the copy's package is this one's)."""
    return in_process(lambda: main(list(args)), project)


def test_compare_pools_cross_validated_recipes_and_judges_them_with_paired_statistics(project):
    subprocess.run(["git", "checkout", "--", "params.yaml"], cwd=project, check=True)  # undo earlier -S
    for name, seed in (("tiny-a", 1), ("tiny-b", 2)):
        for fold in (0, 1):  # up to evaluate: compare reads the split, train and evaluate outputs, never export's
            dvc(project, "exp", "run", "--name", f"{name}-f{fold}", "-S", "train.epochs=1", "-S", f"train.seed={seed}",
                "-S", "split.folds=2", "-S", f"split.fold={fold}", "evaluate")
    split = json.loads((project / "reports/split.json").read_text())
    filtered = pd.read_csv(project / "data/filtered/manifest.csv")
    assert split["cross_validation"]["images"] == len(filtered) and split["splits"]["test"]["images"] == \
        split["cross_validation"]["fold_images"][1]
    result = _fracture_cli(project, "compare", "tiny-a-f0", "tiny-a-f1", "tiny-b-f0", "tiny-b-f1")
    assert result.returncode == 0, result.stderr
    comparison = json.loads((project / "reports/compare/compare.json").read_text())
    ensemble = "ensemble of tiny-a, tiny-b"
    assert [row["name"] for row in comparison["rows"]] == ["tiny-a", "tiny-b", ensemble]
    assert comparison["settings"]["test_images"] == len(filtered), "every filtered image tested once, pooled"
    assert comparison["cross_validation"]["folds"] == 2
    assert comparison["rows"][1]["changed"] == {"train.seed": 2} and comparison["reference"] == "tiny-a"
    assert [(row["name"], row["level"]) for row in comparison["differences"]] == [
        ("tiny-b", "image"), (ensemble, "image")]
    assert {region["region"] for region in comparison["regions"]} <= set(filtered["region"])
    for row in comparison["rows"][:2]:  # one-epoch tiny runs' wall times, kept to 0.1 s, can be 0.0
        assert row["train_seconds"] >= 0 and row["auc"]["low"] <= row["auc"]["value"] <= row["auc"]["high"]
    markdown = (project / "reports/compare/compare.md").read_text()
    assert "## Paired differences against tiny-a" in markdown and "pools the test splits of its 2 folds" in markdown
    assert f"| {ensemble} | train.seed=[1, 2] |" in markdown  # params as -S writes them
    assert (project / "reports/compare/compare.html").read_text().count('src="data:image/png;base64,') == 2
    missing = _fracture_cli(project, "compare", "tiny-a-f0", "tiny-b-f0", "tiny-b-f1")
    assert missing.returncode == 1 and "tiny-a-f0 is fold 0 of 2 without the other folds" in missing.stderr
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "later code"], cwd=project, check=True)
    later = _fracture_cli(project, "compare", "tiny-a-f0", "tiny-a-f1", "--out", "compare-later")
    assert later.returncode == 0, "experiments of an earlier commit compare by name: " + later.stderr
    subprocess.run(["git", "reset", "-q", "--soft", "HEAD~1"], cwd=project, check=True)
    revisions = _fracture_cli(project, "compare", "--revs", "tiny-a-f0", "tiny-b-f0", "--out", "compare-revs")
    assert revisions.returncode == 0, revisions.stderr
    rows = json.loads((project / "compare-revs/compare.json").read_text())["rows"]
    assert [row["name"] for row in rows[:2]] == ["tiny-a-f0", "tiny-b-f0"], "revisions compare as experiments do"


def test_compare_refuses_an_experiment_of_another_task_in_one_line(project):
    result = _fracture_cli(project, "compare")  # every finished experiment, the region-task one included
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: compare: experiment ")
    assert "model.task=region" in result.stderr and "Traceback" not in result.stderr
    unknown = _fracture_cli(project, "compare", "tiny-a-f0", "no-such-experiment")
    assert unknown.returncode == 1 and "no finished experiment named no-such-experiment" in unknown.stderr
