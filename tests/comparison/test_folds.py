"""Cross-validation folds pooled by compare: every image tested once, refusals, pooled seeds and regions."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from fracture.comparison.analysis import compare
from fracture.comparison.folds import pool_folds
from fracture.core.errors import UserError
from fracture.data.split import SplitConfig, assign_splits, check_split, cross_validation_summary
from fracture.evaluation.metrics import roc_auc

from .test_analysis import _experiment

FOLDS = 3


def _manifest(patients=90, seed=0) -> pd.DataFrame:
    """Patients with one to three films, wrist or hand, labels by patient."""
    rng = np.random.default_rng(seed)
    rows = []
    for patient in range(patients):
        label = int(rng.random() < 0.4)
        for view in range(int(rng.integers(1, 4))):
            rows.append({"image_id": f"p{patient}/v{view}", "path": f"p{patient}/v{view}.png",
                         "patient_id": f"p{patient}", "study_id": f"p{patient}/s1", "sha256": f"p{patient}/v{view}",
                         "region": ("wrist", "hand")[patient % 2], "label": label, "source_split": "train"})
    return pd.DataFrame(rows)


def _folds(name, signal, manifest, seed=1, params=None, folds=FOLDS, noise=0):
    """One recipe's fold runs, each scored on its own fold's validation and test images, as evaluate would;
    `noise` draws other noise, as another train.seed would."""
    runs = []
    for fold in range(folds):
        config = SplitConfig(0.2, 0.15, True, shortcut_auc=0.55, seed=seed, folds=folds, fold=fold)
        split = manifest.assign(split=assign_splits(manifest, config))
        check_split(split)
        rows = split[split["split"] != "train"].reset_index(drop=True)
        own = (params or {}) | {"split.folds": folds, "split.fold": fold, "base.seed": seed}
        run = _experiment(f"{name}-f{fold}", signal, own, seed=fold + 100 * noise, rows=rows)
        runs.append(dataclasses.replace(run, cross_validation=cross_validation_summary(manifest, config)))
    return runs


def test_pooled_folds_test_every_image_exactly_once_each_by_its_own_folds_model():
    manifest = _manifest()
    runs = _folds("cv-a", 0.5, manifest)
    (pooled,) = pool_folds(runs, 200, 0, 0.95)
    test = pooled.test()
    assert pooled.name == "cv-a" and pooled.params["split.fold"] == "all"
    renamed = [dataclasses.replace(run, name=name) for run, name in zip(runs, ("bally-pots", "x", "y"))]
    assert pool_folds(renamed, 10, 0, 0.95)[0].name == "bally-pots +2 folds", "DVC's own experiment names"
    assert test["image_id"].is_unique and set(test["image_id"]) == set(manifest["image_id"])
    for run in runs:
        number = run.cross_validation["fold"]
        assert set(test.loc[test["fold"] == number, "image_id"]) == set(run.test()["image_id"])
    assert pooled.evaluation["test"]["image"]["auc"] == pytest.approx(roc_auc(test["label"], test["probability"]))
    ci = pooled.evaluation["test"]["image"]["ci"]["auc"]
    assert ci["low"] < pooled.evaluation["test"]["image"]["auc"] < ci["high"]
    assert pooled.train["train_seconds"] == pytest.approx(60.0 * FOLDS)
    hits = [run.test().assign(cam_hit=(run.test()["label"] == 1).map({True: 1.0, False: None})) for run in runs]
    with_hits = pool_folds([dataclasses.replace(run, predictions=frame) for run, frame in zip(runs, hits)], 50, 0,
                           0.95)[0]
    game = with_hits.evaluation["localisation"]["annotated"]["hit"]
    assert game["value"] == 1.0 and game["images"] == int(manifest["label"].sum()) and game["low"] < 1.0


def test_compare_pools_each_recipe_and_pairs_them_on_all_images_overall_and_per_region(tmp_path):
    manifest = _manifest()
    runs = _folds("cv-a", 0.6, manifest) + _folds("cv-b", 1.2, manifest, params={"model.arch": "resnet18"})
    comparison, models = compare(runs, baseline="cv-a")
    assert [row["name"] for row in comparison["rows"]] == ["cv-a", "cv-b"]
    assert comparison["settings"]["test_images"] == len(manifest)
    assert comparison["cross_validation"]["folds"] == FOLDS
    (difference,) = [result for result in comparison["differences"] if result["level"] == "image"]
    assert difference["auc"]["difference"] > 0 and difference["auc"]["low"] < difference["auc"]["high"]
    regions = {region["region"]: region for region in comparison["regions"]}
    assert set(regions) == {"hand", "wrist"}
    assert sum(region["images"] for region in regions.values()) == len(manifest)
    hand = regions["hand"]["differences"]["cv-b"]
    assert hand["low"] <= hand["difference"] <= hand["high"]
    from fracture.comparison.document import write_comparison
    write_comparison(comparison, models, tmp_path)
    text = (tmp_path / "compare.md").read_text()
    assert "pools the test splits of its 3 folds" in text and "Per body region" in text
    assert ") ‡ |" not in text, "both regions have enough abnormal images"


def test_a_region_with_too_few_abnormal_images_is_marked():
    from fracture.comparison.document import _region_table
    estimate = {"value": 0.9, "low": 0.5, "high": 1.0}
    comparison = {"reference": "a", "settings": {"unit": "patients"},
                  "regions": [{"region": "hip", "images": 114, "abnormal": 3, "groups": 80, "auc": {"a": estimate},
                               "differences": {}},
                              {"region": "hand", "images": 576, "abnormal": 146, "groups": 198,
                               "auc": {"a": estimate}, "differences": {}}]}
    table = _region_table(comparison)[-1]
    assert [row[1] for row in table.rows] == ["114 (3) ‡", "576 (146)"]


def test_seeds_of_a_cross_validated_recipe_ensemble_fold_by_fold_then_pool():
    manifest = _manifest()
    runs = _folds("cv-a", 0.8, manifest) + _folds("cv-s2", 0.8, manifest, params={"train.seed": 2})
    comparison, models = compare(runs)
    ensembles = [row for row in comparison["rows"] if row.get("ensemble")]
    assert len(ensembles) == 1 and ensembles[0]["name"] == "ensemble of cv-a, cv-s2"
    combined = models[-1].test()
    assert combined["image_id"].is_unique and len(combined) == len(manifest)


def test_folds_that_cannot_be_pooled_are_refused_in_one_line():
    manifest = _manifest()
    runs = _folds("cv-a", 1.0, manifest)
    with pytest.raises(UserError, match=r"folds \[0, 2\] of 3; fold\(s\) \[1\] missing"):
        pool_folds([runs[0], runs[2]], 100, 0, 0.95)
    other_deal = _folds("cv-a", 1.0, manifest, seed=1, folds=3)[1]
    other_deal = dataclasses.replace(other_deal, cross_validation=other_deal.cross_validation
                                     | {"assignment_sha256": "another deal"})
    with pytest.raises(UserError, match="not all come from one fold deal") as caught:
        pool_folds([runs[0], other_deal, runs[2]], 100, 0, 0.95)
    assert "\n" not in str(caught.value)


def test_one_fold_of_several_recipes_is_compared_as_a_single_split():
    manifest = _manifest()
    first = _folds("cv-a", 1.0, manifest)[0]
    second = dataclasses.replace(_folds("cv-b", 0.5, manifest)[0], params=first.params | {"model.arch": "vgg16"})
    comparison, _ = compare([first, second])
    assert [row["name"] for row in comparison["rows"]] == ["cv-a-f0", "cv-b-f0"]
    assert comparison["cross_validation"] is None


def test_a_lone_fold_beside_pooled_recipes_is_refused_in_one_line():
    manifest = _manifest()
    runs = _folds("cv-a", 1.0, manifest) + _folds("cv-b", 0.5, manifest, params={"model.arch": "vgg16"})[:1]
    with pytest.raises(UserError, match="cv-b-f0 is fold 0 of 3 without the other folds of its recipe"):
        pool_folds(runs, 100, 0, 0.95)


def test_each_folds_auc_and_their_mean_are_kept_beside_the_pooled_auc():
    manifest = _manifest()
    runs = _folds("cv-a", 0.6, manifest)
    image = pool_folds(runs, 50, 0, 0.95)[0].evaluation["test"]["image"]
    expected = [roc_auc(run.test()["label"], run.test()["probability"]) for run in runs]
    assert [fold["auc"] for fold in image["folds"]] == pytest.approx(expected)
    assert image["mean_fold_auc"] == pytest.approx(np.mean(expected))
    assert [fold["images"] for fold in image["folds"]] == [len(run.test()) for run in runs]


def test_recipes_over_seeds_get_a_verdict_with_the_seed_spread_counted():
    manifest = _manifest()
    runs = (_folds("cv-a", 0.3, manifest) + _folds("cv-a-s2", 0.3, manifest, params={"train.seed": 2}, noise=1)
            + _folds("cv-b", 0.5, manifest, params={"model.arch": "resnet18"})
            + _folds("cv-b-s2", 0.5, manifest, params={"model.arch": "resnet18", "train.seed": 2}, noise=1))
    comparison, models = compare(runs, baseline="cv-a")
    (verdict,) = comparison["verdicts"]
    assert (verdict["name"], verdict["reference"]) == ("cv-b, cv-b-s2", "cv-a, cv-a-s2")
    pooled = {model.name: model for model in models}
    aucs = {name: roc_auc(pooled[name].test()["label"], pooled[name].test()["probability"]) for name in pooled
            if not name.startswith("ensemble")}
    auc = verdict["auc"]
    assert auc["difference"] == pytest.approx((aucs["cv-b"] + aucs["cv-b-s2"] - aucs["cv-a"] - aucs["cv-a-s2"]) / 2)
    seeds = np.var([aucs["cv-b"], aucs["cv-b-s2"]], ddof=1) / 2 + np.var([aucs["cv-a"], aucs["cv-a-s2"]], ddof=1) / 2
    assert auc["se_seeds"] == pytest.approx(np.sqrt(seeds))
    variance = auc["se_films"] ** 2 + seeds
    assert auc["df"] == pytest.approx(variance ** 2 / ((np.var([aucs["cv-b"], aucs["cv-b-s2"]], ddof=1) / 2) ** 2
                                                      + (np.var([aucs["cv-a"], aucs["cv-a-s2"]], ddof=1) / 2) ** 2))
    assert auc["high"] - auc["low"] > 2 * 1.96 * np.sqrt(variance), "t, not normal"
    assert verdict["provisional"], "two runs a side"
    assert "p_holm" in auc and auc["p_holm"] >= auc["p_value"], "the verdict is in the comparison's Holm family"


def test_the_choice_is_confirmed_on_the_fold_that_did_not_make_it():
    manifest = _manifest()
    weak, strong = _folds("cv-a", 0.2, manifest), _folds("cv-b", 0.6, manifest, params={"model.arch": "resnet18"})
    comparison, _ = compare(weak + strong, baseline="cv-a")
    found = comparison["confirmation"]
    assert found["winner"] == "cv-b" and set(found["chosen"].values()) == {"cv-b"}
    fold_auc = [roc_auc(run.test()["label"], run.test()["probability"]) for run in strong]
    assert found["confirmed_auc"]["value"] == pytest.approx(np.mean(fold_auc)), "each fold scored by its own model"
    reference = [roc_auc(run.test()["label"], run.test()["probability"]) for run in weak]
    assert found["difference"]["difference"] == pytest.approx(np.mean(fold_auc) - np.mean(reference))
    assert found["difference"]["low"] > 0 and found["confirmed_auc"]["low"] < found["confirmed_auc"]["value"]


def test_folds_are_pooled_with_the_references_bootstrap_settings_not_the_first_experiments():
    manifest = _manifest()
    first = _folds("cv-a", 0.6, manifest)
    other = [dataclasses.replace(run, params=run.params | {"model.arch": "resnet18",
                                                           "evaluate.bootstrap_resamples": 300})
             for run in _folds("cv-b", 0.4, manifest)]
    comparison, models = compare(first + other, baseline="cv-b")
    assert comparison["settings"]["resamples"] == 300
    expected = pool_folds(other, 300, 1, 0.95)[0].evaluation["test"]["image"]["ci"]["auc"]
    row = next(row for row in comparison["rows"] if row["name"] == "cv-b")
    assert (row["auc"]["low"], row["auc"]["high"]) == (expected["low"], expected["high"])
