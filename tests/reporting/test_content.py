"""What the report says about a run: built from hand-made stage outputs (tests/reporting/runs.py), its figures
recorded rather than drawn except where the drawing is the point."""

import pytest

from fracture.core.errors import UserError
from fracture.reporting import content, figures
from fracture.reporting.content import build_report
from fracture.reporting.document import Figure, Heading, Table, to_markdown
from tests.reporting import runs


@pytest.fixture
def drawn(monkeypatch):
    """The arguments of each figure the report asks for, by drawing function, none of them drawn."""
    calls = {}
    for name in ("training_curves", "roc_figure", "pr_figure", "confusion_figure", "calibration_figure",
                 "image_sheet"):
        monkeypatch.setattr(figures, name, lambda *args, name=name: calls.setdefault(name, args))
    return calls


def _report(tmp_path, params=None, external=None, **files):
    """The report's blocks for a run made of the builders' files, `files` replacing some of them."""
    outputs = runs.write_run(tmp_path / "reports", **files)
    return build_report(params or runs.params(), outputs, tmp_path / "reports/figures", external or {})


def _headings(blocks) -> list[str]:
    return [block.text for block in blocks if isinstance(block, Heading)]


def _table(blocks, *headers: str) -> Table:
    """The first table whose columns start with `headers`."""
    return next(block for block in blocks if isinstance(block, Table) and block.headers[:len(headers)] == [*headers])


def _rows(blocks, *headers: str) -> dict[str, list[str]]:
    """The rows, by first cell, of the first table whose columns start with `headers`."""
    return {row[0]: row[1:] for row in _table(blocks, *headers).rows}


def test_a_fracture_run_has_every_section_and_its_headline_with_intervals(tmp_path, drawn):
    blocks = _report(tmp_path)
    assert _headings(blocks) == ["Fracture classification report", "Data", "Enhancement", "Training", "Results",
                                 "By region", "Where the model looks"]
    results = _rows(blocks, "metric")
    assert results["images / studies"] == ["120", "44", "120"] and results["abnormal"] == ["48", "18", "48"]
    assert results["ROC-AUC"] == ["0.850 [0.750, 0.900]", "0.884 [0.784, 0.934]", "0.850"]
    assert results["sensitivity"] == ["0.700 [0.600, 0.750]", "0.700 [0.600, 0.750]", "0.780"]
    assert results["calibration error (ECE)"] == ["0.065", "", ""]
    text = to_markdown(blocks)
    assert "95% bootstrap intervals from 1000 resamples of patients" in text
    assert "chosen on validation by youden, 0.354 for images and 0.380 for studies" in text
    assert "validation sensitivity was 0.780 per image and 0.839 per study, specificity 0.893 and 0.912" in text
    assert "synthetic" not in text, "a real source gets no synthetic warning"


def test_each_region_is_shown_with_its_own_figures(tmp_path, drawn):
    regions = _rows(_report(tmp_path), "region")
    assert regions == {"hand": ["60", "30", "0.710 [0.610, 0.760]", "0.700 [0.600, 0.750]", "0.800 [0.700, 0.850]"],
                       "leg": ["60", "18", "0.930 [0.830, 0.980]", "0.700 [0.600, 0.750]", "0.800 [0.700, 0.850]"]}


def test_one_region_has_no_region_table(tmp_path, drawn):
    evaluation = runs.fracture_metrics()
    evaluation["test_by_region"] = {}  # what evaluate writes for a single region
    assert "By region" not in _headings(_report(tmp_path, evaluation=evaluation))


def test_the_data_section_counts_what_was_read_kept_and_rejected(tmp_path, drawn):
    blocks = _report(tmp_path)
    text = to_markdown(blocks)
    assert "Source: mura. Regions kept: hand, leg. 900 images in the source, 600 in those regions, 590 kept. " \
           "Rejected: duplicate 7, too_small 3." in text, "reasons that rejected nothing are left out"
    assert _rows(blocks, "split")["test"] == ["120", "34", "3.53", "44", "72", "48"]
    assert "the source’s official validation set is the test split. Patients in more than one split: 0; " \
           "studies: 0; identical images: 0." in text


def test_a_source_without_studies_or_patients_says_what_its_results_rest_on(tmp_path, drawn):
    split = runs.split_report()
    split["grouping"] = {"description": "pseudo-patient groups (heuristic: consecutive image numbers)",
                         "has_studies": False, "kinds": {"pseudo_patient": 590}, "unit": "pseudo-patient groups"}
    split["official_test"] = False
    filtered = runs.filter_report()
    filtered["rejected"] = {"blank": 0}
    blocks = _report(tmp_path, split=split, filtered=filtered)
    assert _table(blocks, "split").headers == ["split", "images", "pseudo-patient groups",
                                               "images per pseudo-patient group", "normal", "abnormal"]
    text = to_markdown(blocks)
    assert "Rejected: none." in text and "official validation set" not in text
    assert "Pseudo-patient groups in more than one split: 0; identical images: 0. The source has no studies of " \
           "several views, so every result is per image." in text


def test_the_enhancement_section_scores_each_chain_step_and_each_filter_alone(tmp_path, drawn):
    enhance = runs.enhance_report()
    enhance["alone"]["median"]["psnr"] = {"count": 40, "identical": 40}  # every image came out unchanged
    blocks = _report(tmp_path, enhance=enhance)
    assert _rows(blocks, "chain step (cumulative)") == {"clahe (step 1)": ["18.000 ± 1.250", "0.825 ± 0.020"],
                                                       "median (step 2)": ["17.500 ± 1.250", "0.810 ± 0.020"]}
    assert _rows(blocks, "each filter alone")["median"] == ["identical", "0.960 ± 0.020"]
    assert "letterboxed to 224 px, then filtered by: clahe → median" in to_markdown(blocks)


def test_no_filter_chain_has_no_chain_table(tmp_path, drawn):
    enhance = {**runs.enhance_report(), "filters": ["none"], "chain": {}}
    blocks = _report(tmp_path, enhance=enhance)
    assert not [block for block in blocks if isinstance(block, Table) and block.headers[0].startswith("chain")]
    assert list(_rows(blocks, "each filter alone")) == ["clahe", "median"]


def test_the_training_section_gives_the_frozen_thresholds_and_draws_the_curves(tmp_path, drawn):
    text = to_markdown(_report(tmp_path))
    assert "Architecture resnet18 (ImageNet-pretrained), task fracture, 9 epochs run, stopped early; the best " \
           "epoch by validation was 7. The decision thresholds, 0.354 per image and 0.380 per study (youden), " \
           "were chosen on the validation split and frozen before testing." in text
    history, best_epoch, path = drawn["training_curves"]
    assert history["epoch"].tolist() == [1, 2, 3] and history["val_auc"].tolist() == [0.6, 0.7, 0.8]
    assert best_epoch == 7 and path == tmp_path / "reports/figures/training_curves.png"


def test_a_run_without_studies_has_one_threshold(tmp_path, drawn):
    train, evaluation = {**runs.train_report(), "study_threshold": None}, runs.fracture_metrics()
    evaluation.update(study_threshold=None, threshold_method="sensitivity", target_sensitivity=0.9)
    del evaluation["test"]["study"], evaluation["val"]["study"]
    blocks = _report(tmp_path, train=train, evaluation=evaluation)
    text = to_markdown(blocks)
    assert "The decision threshold, 0.354 per image (youden), was chosen on the validation split" in text
    assert "chosen on validation by sensitivity (target sensitivity 0.90), 0.354, and applied unchanged to test. " \
           "At it, validation sensitivity was 0.780 and specificity 0.893." in text
    assert "a study's probability" not in text
    assert _rows(blocks, "metric")["images"] == ["120", "120"], "no study column"


def test_a_model_that_did_not_learn_is_called_out(tmp_path, drawn):
    text = to_markdown(_report(tmp_path, train={**runs.train_report(), "val_output_spread": 0.001}))
    assert "Warning: this model did not learn. Its validation probabilities barely vary (standard deviation " \
           "0.0010)" in text


def test_a_synthetic_run_says_it_shows_nothing_clinical(tmp_path, drawn):
    blocks = _report(tmp_path, params=runs.params(source="synthetic"))
    assert "they say nothing about clinical performance" in blocks[1].text


def test_the_curves_are_drawn_from_the_evaluate_stages_plots(tmp_path, drawn):
    _report(tmp_path)
    roc, auc, operating_point, _ = drawn["roc_figure"]
    assert roc["tpr"].tolist() == [0, 0.7, 1] and auc == 0.85
    assert operating_point == pytest.approx((0.2, 0.7)), "1 - specificity and sensitivity at the frozen threshold"
    assert drawn["pr_figure"][1] == pytest.approx(0.4), "the test split's prevalence"
    matrix, classes, _ = drawn["confusion_figure"]
    assert classes == ["normal", "abnormal"] and matrix == [[1, 1], [0, 1]], "rows actual, normal first"
    assert drawn["calibration_figure"][1:3] == (0.065, "P(abnormal)")


def test_grad_cam_examples_make_one_sheet_with_the_annotated_films_last(tmp_path, drawn):
    gradcam = tmp_path / "reports/eval/gradcam"
    gradcam.mkdir(parents=True)
    for name in ("true_positive_1", "true_positive_2", "false_negative_1", "annotated_1"):
        (gradcam / f"{name}.png").touch()
    blocks = _report(tmp_path)
    sheet = next(block for block in blocks if isinstance(block, Figure) and block.path == "figures/gradcam.png")
    assert sheet.caption.endswith("Annotated fractured test films follow, the annotators' outlines in green.")
    groups = drawn["image_sheet"][0]
    assert [path.name for path in groups["fracture found"]] == ["true_positive_1.png", "true_positive_2.png"]
    assert [title for title, files in groups.items() if files] == ["fracture found", "fracture missed",
                                                                   "fracture, annotators' outline in green"]


def test_no_grad_cam_examples_no_sheet(tmp_path, drawn):
    blocks = _report(tmp_path)
    assert "figures/gradcam.png" not in [block.path for block in blocks if isinstance(block, Figure)]
    assert "image_sheet" not in drawn


def test_the_pointing_game_is_beside_its_chance_map_with_wilson_intervals_marked(tmp_path, drawn):
    rows = _rows(_report(tmp_path), "images")
    annotated = rows["annotated fractured test images (30 images, 20 patients)"]
    assert annotated == ["0.600 [0.450, 0.750]", "0.200 [0.100, 0.300]", "0.330 [0.270, 0.390]",
                         "0.130 [0.100, 0.160]", "0.090", "0.000 [0.000, 0.110] (W)", "0.000 [0.000, 0.110] (W)"]
    assert "of them, true positives (18 images, 14 patients)" in rows


def test_no_annotations_no_localisation_section(tmp_path, drawn):
    evaluation = {**runs.fracture_metrics(), "localisation": None}
    assert "Where the model looks" not in _headings(_report(tmp_path, evaluation=evaluation))


def test_no_true_positive_among_the_annotated_leaves_its_row_out(tmp_path, drawn):
    evaluation = runs.fracture_metrics()
    evaluation["localisation"]["true_positives"] = {"images": 0}
    rows = _rows(_report(tmp_path, evaluation=evaluation), "images")
    assert list(rows) == ["annotated fractured test images (30 images, 20 patients)"]


def test_a_region_model_is_reported_by_class_without_thresholds(tmp_path, drawn):
    train = {key: value for key, value in runs.train_report().items() if "threshold" not in key}
    blocks = _report(tmp_path, params=runs.params(task="region"), evaluation=runs.region_metrics(), train=train)
    assert _headings(blocks)[-1] == "By class", "no region, subgroup, localisation or outside-set sections"
    results = _rows(blocks, "metric")
    assert "abnormal" not in results and results["macro ROC-AUC (one vs rest)"] == ["0.930 [0.900, 0.960]", "0.930"]
    assert results["balanced accuracy"] == ["0.790", "0.790"], "no interval where the bootstrap gave none"
    assert _rows(blocks, "region")["hand"] == ["40", "0.900", "0.800", "0.850", "0.950"]
    text = to_markdown(blocks)
    assert "threshold" not in text.lower()
    assert "ROC curve of the test images (one vs rest, micro-averaged over regions)" in text
    assert drawn["roc_figure"][2] is None and drawn["pr_figure"][1] == pytest.approx(1 / 3)
    assert drawn["confusion_figure"][1] == runs.REGIONS
    assert drawn["calibration_figure"][2] == "confidence"


def test_subgroups_flag_small_levels_and_give_them_no_interval(tmp_path, drawn):
    evaluation = runs.fracture_metrics()
    evaluation["test_by_subgroup"] = {"view": {"AP": {**runs.binary_result(100, 40), "too_small": False},
                                               "oblique": {**runs.binary_result(8, 3, ci=False), "too_small": True}}}
    blocks = _report(tmp_path, evaluation=evaluation)
    assert "Subgroups and shortcuts" in _headings(blocks)
    assert _table(blocks, "subgroup").rows == [
        ["view", "AP", "100", "40", "0.850 [0.750, 0.900]", "0.700 [0.600, 0.750]", "0.800 [0.700, 0.850]"],
        ["view", "oblique", "8", "3", "0.850 (too few to say)", "0.700", "0.800"]]


def test_a_shortcut_is_named_and_the_test_is_scored_without_it(tmp_path, drawn):
    split, evaluation = runs.split_report(), runs.fracture_metrics()
    split["shortcuts"]["covariates"] = {"hardware": {"auc": 0.62, "ci": {"low": 0.58, "high": 0.66}}}
    without = runs.binary_result(100, 30, auc=0.78)
    evaluation["shortcuts"] = {"found": [{"covariate": "hardware", "kind": "one_label_level",
                                          "reason": "hardware = 1: 12 training images, all fractured",
                                          "text": "without hardware = 1", "test": without}],
                               "without": {"text": "without hardware = 1", "image": without}}
    blocks = _report(tmp_path, split=split, evaluation=evaluation)
    assert _rows(blocks, "covariate")["hardware"] == ["0.620 [0.580, 0.660]", "without hardware = 1", "100", "30",
                                                      "0.780 [0.680, 0.830]", "0.700 [0.600, 0.750]",
                                                      "0.800 [0.700, 0.850]"]
    assert "Headline test ROC-AUC 0.850 [0.750, 0.900] (120 images, 48 fractured); without hardware = 1: " \
           "0.780 [0.680, 0.830] (100 images, 30 fractured)." in to_markdown(blocks)


def test_an_outside_set_is_set_beside_the_test_split_with_what_differs(tmp_path, drawn):
    blocks = _report(tmp_path, external={"clinic": runs.outside_set()})
    assert _headings(blocks)[-2:] == ["Outside sets", "clinic"]
    sets = _rows(blocks, "set")
    assert sets["test split"] == ["120", "48", "40%", "0.850 [0.750, 0.900]", "0.700 [0.600, 0.750]",
                                  "0.800 [0.700, 0.850]", "0.884 [0.784, 0.934]"]
    assert sets["clinic"][:4] == ["40", "20", "50%", "0.660 [0.560, 0.710]"] and sets["clinic"][-1] == "no studies"
    text = to_markdown(blocks)
    assert "folder set at /data/clinic, regions hand: 50 images read, 45 in those regions, 40 kept (20 fractured); " \
           "rejected: blank 2. Intervals over its groups." in text
    assert "Prevalence differs: 40% of the test split's images are fractured, 50% of this set's." in text
    assert "Region mix differs (total variation 0.50)" in text
    regions = _rows(blocks, "region", "test images")
    assert regions["leg"] == ["60", "18", "0.930 [0.830, 0.980]", "0", "0", ""]
    assert regions["hand"][3:] == ["40", "20", "0.660 [0.560, 0.710]"], "one region: the whole set's figure"


def test_no_outside_sets_no_outside_section(tmp_path, drawn):
    assert "Outside sets" not in _headings(_report(tmp_path))


def test_a_missing_stage_output_names_the_file_and_the_command(tmp_path, drawn):
    outputs = runs.write_run(tmp_path / "reports")
    (tmp_path / "reports/split.json").unlink()
    with pytest.raises(UserError, match=r"split\.json not found; run the earlier stages first \(dvc repro\)"):
        build_report(runs.params(), outputs, tmp_path / "figures", {})


def test_every_figure_the_report_shows_is_drawn_beside_it(tmp_path):
    blocks = _report(tmp_path)
    shown = [block.path for block in blocks if isinstance(block, Figure) and block.path.startswith("figures/")]
    assert shown == ["figures/training_curves.png", "figures/roc.png", "figures/pr.png", "figures/confusion.png",
                     "figures/calibration.png"]
    assert all((tmp_path / "reports" / path).read_bytes().startswith(b"\x89PNG") for path in shown)


def test_singular_names_the_one_of_a_unit():
    assert [content._singular(unit) for unit in ("patients", "pseudo-patient groups", "images",
                                                  "groups (patients, images)")] \
        == ["patient", "pseudo-patient group", "image", "group"]
