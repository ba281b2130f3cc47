"""Rows, seed groups, ensembles and refusals of the comparison, on made-up experiments."""

import numpy as np
import pandas as pd
import pytest

from fracture.comparison.analysis import (
    CompareConfig,
    changed_params,
    check_same_test_set,
    compare,
    ensemble,
    seed_groups,
)
from fracture.comparison.experiments import Experiment, flatten
from fracture.core.errors import UserError
from fracture.evaluation.scoring import EvaluateConfig, Task, predictions_frame, split_metrics
from fracture.evaluation.thresholds import validation_thresholds

PARAMS = {"base.seed": 42, "model.arch": "simple_cnn", "train.seed": 42, "evaluate.bootstrap_resamples": 200,
          "evaluate.ci_level": 0.95, "evaluate.calibration_bins": 10}
GROUPING = {"unit": "patients", "description": "patients"}


def _rows(patients=40, seed=0) -> pd.DataFrame:
    """Val and test rows: per patient one study of two views, labels by study."""
    rng = np.random.default_rng(seed)
    rows = []
    for patient in range(patients):
        label = int(rng.random() < 0.4)
        for view in (1, 2):
            rows.append({"image_id": f"p{patient}/v{view}", "path": f"p{patient}/v{view}.png",
                         "patient_id": f"p{patient}", "study_id": f"p{patient}/s1", "region": "wrist",
                         "split": "val" if patient % 2 else "test", "label": label})
    return pd.DataFrame(rows)


def _experiment(name, signal, params=None, seed=0, rows=None) -> Experiment:
    """A model whose probability is the label times `signal` plus noise, scored as evaluate would."""
    rows = _rows() if rows is None else rows
    rng = np.random.default_rng(seed)
    probability = np.clip(0.3 + signal * (rows["label"] - 0.3) + rng.normal(0, 0.2, len(rows)), 0.01, 0.99)
    image, study = validation_thresholds(rows[rows["split"] == "val"].assign(probability=probability[
        rows["split"].to_numpy() == "val"]), "youden", 0.9)
    task = Task("fracture", ["normal", "abnormal"], image, study)
    predictions = predictions_frame(rows, np.stack([1 - probability, probability], axis=1), task)
    test = predictions[predictions["split"] == "test"]
    metrics = split_metrics(test, task, EvaluateConfig(100, 0.95, 10, 0, 0))
    metrics["image"]["ece"] = 0.1
    evaluation = {"task": "fracture", "threshold": image, "study_threshold": study, "has_studies": True,
                  "threshold_method": "youden", "test": metrics}
    return Experiment(name, f"rev-{name}", PARAMS | (params or {}), {"best_epoch": 3, "train_seconds": 60.0},
                      evaluation, predictions, GROUPING)


def test_flatten_makes_dotted_keys_and_keeps_lists():
    assert flatten({"model": {"arch": "x"}, "filter": {"regions": ["all"]}}) == {"model.arch": "x",
                                                                                 "filter.regions": ["all"]}


def test_only_the_params_that_vary_are_shown():
    experiments = [_experiment("a", 1.0), _experiment("b", 1.0, {"model.arch": "resnet18"}),
                   _experiment("c", 1.0, {"train.seed": 1})]
    assert changed_params(experiments) == {"a": {"model.arch": "simple_cnn", "train.seed": 42},
                                           "b": {"model.arch": "resnet18", "train.seed": 42},
                                           "c": {"model.arch": "simple_cnn", "train.seed": 1}}


def test_runs_that_differ_in_train_seed_only_form_a_group():
    a, b = _experiment("a", 1.0), _experiment("b", 1.0, {"train.seed": 1}, seed=1)
    other = _experiment("c", 1.0, {"model.arch": "resnet18", "train.seed": 1})
    assert [[member.name for member in group] for group in seed_groups([a, b, other])] == [["a", "b"]]


def test_the_ensemble_averages_probabilities_and_freezes_its_own_thresholds():
    a, b = _experiment("a", 0.5, seed=1), _experiment("b", 0.5, {"train.seed": 1}, seed=2)
    combined = ensemble([a, b], CompareConfig.of(a))
    expected = (a.predictions["probability"] + b.predictions["probability"]) / 2
    assert np.allclose(combined.predictions["probability"], expected)
    val = combined.predictions[combined.predictions["split"] == "val"]
    assert combined.evaluation["threshold"] == validation_thresholds(val, "youden", 0.9)[0]
    assert (combined.predictions["predicted"] == (expected >= combined.evaluation["threshold"])).all()
    assert combined.params["train.seed"] == [42, 1]
    image = combined.evaluation["test"]["image"]
    assert image["auc"] == 1.0 and "auc" not in image["ci"], "every resample ranks perfectly: no interval, not [1, 1]"
    assert image["ci"]["accuracy"]["method"] == "logit" and image["ci"]["accuracy"]["low"] < image["accuracy"]


def test_experiments_with_other_test_images_are_refused_by_name():
    shifted = _rows(seed=0)
    shifted.loc[0, "image_id"] = "another/image"
    with pytest.raises(UserError, match="experiments a and b were tested on different images or labels"):
        check_same_test_set([_experiment("a", 1.0), _experiment("b", 1.0, rows=shifted)])


def test_experiments_with_other_test_labels_are_refused():
    relabelled = _rows(seed=0)
    relabelled.loc[0, "label"] = 1 - relabelled.loc[0, "label"]
    with pytest.raises(UserError, match="different images or labels"):
        check_same_test_set([_experiment("a", 1.0), _experiment("b", 1.0, rows=relabelled)])


def test_compare_pairs_every_model_with_the_reference_per_image_and_per_study():
    rows = _rows(patients=100)
    experiments = [_experiment("weak", 0.2, seed=1, rows=rows),
                   _experiment("strong", 0.8, {"model.arch": "resnet18"}, seed=2, rows=rows),
                   _experiment("weak-2", 0.2, {"train.seed": 1}, seed=3, rows=rows)]
    comparison, models = compare(experiments, baseline="weak")
    assert [row["name"] for row in comparison["rows"]] == ["weak", "strong", "weak-2", "ensemble of weak, weak-2"]
    assert [model.name for model in models] == [row["name"] for row in comparison["rows"]]
    assert comparison["rows"][-1]["ensemble"] and comparison["seed_groups"][0]["members"] == ["weak", "weak-2"]
    pairs = [(result["name"], result["level"]) for result in comparison["differences"]]
    assert pairs == [(name, level) for level in ("image", "study")
                     for name in ("strong", "weak-2", "ensemble of weak, weak-2")]
    strong = comparison["differences"][0]["auc"]
    assert strong["difference"] > 0 and strong["low"] > 0 and strong["p_value"] < 0.05
    assert all(result["auc"]["p_holm"] >= result["auc"]["p_value"] for result in comparison["differences"])
    assert comparison["settings"]["test_images"] == 100 and comparison["settings"]["unit"] == "patients"


def test_holm_covers_the_whole_family_and_small_differences_are_flagged_against_the_seed_spread():
    experiments = [_experiment("weak", 0.2, seed=1), _experiment("strong", 0.8, {"model.arch": "resnet18"}, seed=2),
                   _experiment("weak-2", 0.2, {"train.seed": 1}, seed=3)]
    comparison, _ = compare(experiments, baseline="weak")
    tests = [result[metric] for result in comparison["differences"]
             for metric in ("auc", "sensitivity", "specificity")]
    assert len(tests) == 18, "3 models x 2 levels x 3 metrics: one family"
    smallest = min(tests, key=lambda test: test["p_value"])
    assert smallest["p_holm"] == pytest.approx(min(1.0, 18 * smallest["p_value"])), "Holm's first step: x 18"
    for test in tests:
        assert test["low"] <= test["difference"] <= test["high"]
    spread = comparison["seed_groups"][0]["auc"]["sd"]
    for result in comparison["differences"]:
        auc = result["auc"]
        if result["level"] == "image":
            assert auc["seed_sd"] == spread and auc["difference_sd"] == pytest.approx(2 ** 0.5 * spread), \
                "the spread of a difference between two runs, not of one run"
            assert auc["within_seed_spread"] == (abs(auc["difference"]) < 2 ** 0.5 * spread)
        else:
            assert auc["within_seed_spread"] is None, "the spread is measured on images"
    test = experiments[0].test()
    image = comparison["differences"][0]
    assert image["sensitivity"]["groups"] == test.loc[test["label"] == 1, "patient_id"].nunique(), \
        "sensitivity's clusters are the patients with fractured films"
    assert image["specificity"]["groups"] == test.loc[test["label"] == 0, "patient_id"].nunique()


def test_an_unknown_baseline_is_one_clear_error():
    with pytest.raises(UserError, match="--baseline nope is not among"):
        compare([_experiment("a", 1.0), _experiment("b", 1.0, {"train.seed": 2})], baseline="nope")


def test_every_number_of_the_table_has_an_interval_and_a_small_count_gets_wilsons():
    from fracture.evaluation.intervals import wilson

    # Wilson (1927) by hand: 0 of 2 at 95%: centre (0 + z^2/4) / (1 + z^2/2), half-width z/(1 + z^2/2) x z/4.
    z = 1.959964
    assert wilson(0, 2) == pytest.approx((0.0, 2 * (z * z / 4) / (1 + z * z / 2)), abs=1e-6)
    rows = _rows(patients=80)
    # the same, less every fractured test film but patient p0's two, which are made fractured
    few = rows[~((rows["label"] == 1) & (rows["patient_id"] != "p0") & (rows["split"] == "test"))]
    few = few.assign(label=few["label"].where(few["patient_id"] != "p0", 1))
    comparison, _ = compare([_experiment("a", 0.8, rows=rows), _experiment("b", 0.8, {"train.seed": 2}, rows=rows)])
    row = comparison["rows"][0]
    for key in ("sensitivity", "specificity", "ppv", "npv", "ece"):
        assert row[key]["low"] <= row[key]["value"] <= row[key]["high"], key
    assert row["sensitivity"]["method"] == "logit" and row["sensitivity"]["count"] >= 10
    small, _ = compare([_experiment("a", 0.8, rows=few), _experiment("b", 0.8, {"train.seed": 2}, rows=few)])
    sensitivity = small["rows"][0]["sensitivity"]
    assert sensitivity["count"] == 2 and sensitivity["method"] == "wilson" and sensitivity["high"] > sensitivity["low"]


def _looking(experiment: Experiment, hits: dict) -> Experiment:
    """The experiment with pointing-game hits on some fractured test images and a hardware-free AUC, as evaluate
    writes them."""
    predictions = experiment.predictions.assign(cam_hit=experiment.predictions["image_id"].map(hits))
    rate = {"value": float(np.mean(list(hits.values()))), "low": 0.0, "high": 1.0, "method": "bootstrap"}
    evaluation = experiment.evaluation | {
        "localisation": {"annotated": {"images": len(hits), "hit": rate, "chance_hit": rate}},
        "shortcuts": {"without": {"text": "without hardware = 1", "image": {"auc": 0.7, "ci": {
            "auc": {"low": 0.6, "high": 0.8}}}}}}
    return Experiment(experiment.name, experiment.rev, experiment.params, experiment.train, evaluation, predictions,
                      experiment.grouping)


def test_compare_shows_each_models_pointing_game_and_auc_without_shortcuts_and_pairs_the_hits(tmp_path):
    from fracture.comparison.document import build_document
    from fracture.comparison.paired import clustered_mcnemar
    from fracture.reporting.document import to_markdown

    base, other = _experiment("a", 0.8, seed=1), _experiment("b", 0.8, {"train.seed": 2}, seed=2)
    fractured = base.test().query("label == 1")["image_id"].tolist()
    hits_a = {image: float(index % 2) for index, image in enumerate(fractured)}
    hits_b = {image: 1.0 for image in fractured}
    comparison, models = compare([_looking(base, hits_a), _looking(other, hits_b)])
    row = comparison["rows"][0]
    assert row["pointing_game"]["value"] == pytest.approx(np.mean(list(hits_a.values())))
    assert row["auc_without_shortcuts"] == {"value": 0.7, "low": 0.6, "high": 0.8, "method": None}
    assert row["without_text"] == "without hardware = 1"
    assert "cam_hit" not in models[-1].predictions, "an ensemble has no Grad-CAM of its own"
    image = next(result for result in comparison["differences"] if result["name"] == "b" and result["level"] == "image")
    test = base.test().sort_values("image_id")
    annotated = test[test["image_id"].isin(fractured)]
    expected = clustered_mcnemar(annotated["image_id"].map(hits_a), annotated["image_id"].map(hits_b),
                                 annotated["patient_id"])
    assert expected.difference > 0 and image["pointing_game"]["difference"] == pytest.approx(expected.difference)
    assert image["pointing_game"]["p_value"] == pytest.approx(expected.p_value)
    assert image["pointing_game"]["p_holm"] >= image["pointing_game"]["p_value"], "the hits are in Holm's family"
    assert not any("pointing_game" in result for result in comparison["differences"] if result["level"] == "study")
    text = to_markdown(build_document(comparison, models, tmp_path))
    assert "AUC without hardware = 1" in text and "Δ pointing game" in text


def test_a_difference_where_no_image_differs_says_so_instead_of_a_zero_width_interval():
    from fracture.comparison.document import _difference

    same = {"difference": 0.0, "low": 0.0, "high": 0.0, "p_value": 1.0, "only_other": 0, "only_reference": 0}
    assert _difference(same) == "+0.000 (no image differs)"
    assert _difference(same | {"only_other": 2, "high": 0.1}) == "+0.000 [+0.000, +0.100]"


def _mapped(experiment: Experiment, found_share: float) -> Experiment:
    """The experiment as a fracture map model whose boxes sit on the fracture of `found_share` of the annotated
    films (the rest beside it), with a false box on every third normal film, as evaluate writes them."""
    import json

    from fracture.evaluation.detection import detection_report

    predictions = experiment.predictions.copy()
    fractured = (predictions["label"] == 1).to_numpy()
    truth = [[[20.0, 20.0, 10.0, 10.0]] if hit else [] for hit in fractured]
    rank = np.cumsum(fractured)  # the k-th fractured film hits where k's share of ten is below found_share
    found = [[{"box": [20.0, 20.0, 10.0, 10.0] if k % 10 < 10 * found_share else [90.0, 5.0, 6.0, 6.0],
               "score": float(probability)}] if hit else
             ([{"box": [60.0, 60.0, 8.0, 8.0], "score": float(probability)}] if index % 3 == 0 else [])
             for index, (hit, k, probability) in enumerate(zip(fractured, rank, predictions["probability"]))]
    predictions["truth_boxes"], predictions["map_boxes"] = map(lambda boxes: [json.dumps(b) for b in boxes],
                                                               (truth, found))
    test = predictions[predictions["split"] == "test"]
    report = detection_report(test, {image: [{"box": box} for box in json.loads(boxes)] for image, boxes in
                                     zip(test["image_id"], test["truth_boxes"]) if json.loads(boxes)},
                              dict(zip(test["image_id"], map(json.loads, test["map_boxes"]))), 100, 0, 0.95)
    return Experiment(experiment.name, experiment.rev, experiment.params, experiment.train,
                      experiment.evaluation | {"detection": report}, predictions, experiment.grouping)


def test_compare_pairs_the_map_models_boxes_on_the_same_films_against_the_first_map_model(tmp_path):
    from fracture.comparison.document import build_document
    from fracture.reporting.document import to_markdown

    plain = _experiment("a", 0.8, seed=1)
    weak = _mapped(_experiment("b", 0.8, {"train.seed": 2}, seed=2), found_share=0.5)
    strong = _mapped(_experiment("c", 0.8, {"train.seed": 3}, seed=3), found_share=0.9)
    comparison, models = compare([plain, weak, strong])
    paired = comparison["detection_differences"]
    assert paired["reference"] == "b", "the reference has no map, so the first map model is the boxes' reference"
    [difference] = paired["differences"]
    rows = {row["name"]: row["detection"] for row in comparison["rows"] if row.get("detection")}
    for key in ("ap50", "froc_2"):
        assert difference[key]["value"] == pytest.approx(rows["c"][key]["value"] - rows["b"][key]["value"])
        assert difference[key]["low"] <= difference[key]["value"] <= difference[key]["high"]
    assert difference["name"] == "c" and difference["froc_2"]["value"] > 0
    text = to_markdown(build_document(comparison, models, tmp_path))
    assert "Paired against b's boxes" in text and "Δ FROC at 2 FP/film [CI]" in text
    assert compare([plain, weak])[0]["detection_differences"] == {}, "one map model has nothing to pair with"
