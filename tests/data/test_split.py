import numpy as np
import pandas as pd
import pytest

from fracture.core.errors import UserError
from fracture.data.split import (
    SplitConfig,
    assign_folds,
    assign_splits,
    check_split,
    cross_validation_summary,
    leakage,
    split_config,
    split_report,
)


def _manifest(patients=60, official_test=0, regions=("wrist",), seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(patients):
        region = regions[p % len(regions)]
        label = int(rng.random() < 0.4)
        for study in range(int(rng.integers(1, 3))):
            for view in range(int(rng.integers(2, 4))):
                rows.append({"image_id": f"{p}-{study}-{view}", "patient_id": f"p{p}", "study_id": f"p{p}-s{study}",
                             "region": region, "label": label, "sha256": f"{p}-{study}-{view}",
                             "source_split": "valid" if p < official_test else "train"})
    return pd.DataFrame(rows)


CONFIG = SplitConfig(val_fraction=0.2, test_fraction=0.15, official_test=True, shortcut_auc=0.55, seed=1)


def test_every_patient_lands_in_one_split_and_fractions_are_respected():
    manifest = _manifest(200)
    manifest["split"] = assign_splits(manifest, CONFIG)
    assert leakage(manifest) == {"patients_crossing": 0, "studies_crossing": 0, "duplicates_crossing": 0}
    shares = manifest["split"].value_counts(normalize=True)
    assert shares["test"] == pytest.approx(0.15, abs=0.04) and shares["val"] == pytest.approx(0.2, abs=0.04)
    for split, rows in manifest.groupby("split"):
        assert rows["label"].mean() == pytest.approx(manifest["label"].mean(), abs=0.08), f"{split} is stratified"


def test_official_test_split_is_kept_as_test():
    manifest = _manifest(100, official_test=20)
    split = assign_splits(manifest, CONFIG)
    assert (split[manifest["source_split"] == "valid"] == "test").all()
    assert (split[manifest["source_split"] == "train"] != "test").all()


def test_official_test_can_be_ignored():
    manifest = _manifest(100, official_test=20)
    split = assign_splits(manifest, SplitConfig(0.2, 0.15, official_test=False, shortcut_auc=0.55, seed=1))
    assert (split[manifest["source_split"] == "valid"] != "test").any()


def test_same_seed_same_split_and_another_seed_another():
    manifest = _manifest(100)
    first = assign_splits(manifest, CONFIG)
    assert first.equals(assign_splits(manifest, CONFIG))
    assert not first.equals(assign_splits(manifest, SplitConfig(0.2, 0.15, True, shortcut_auc=0.55, seed=2)))


def test_small_strata_still_feed_validation_and_test():
    manifest = _manifest(12, regions=("wrist", "hand", "elbow", "finger"))
    split = assign_splits(manifest, CONFIG)
    assert {"train", "val", "test"} == set(split)


def test_leaks_and_single_class_splits_stop_the_stage():
    manifest = _manifest(40)
    manifest["split"] = assign_splits(manifest, CONFIG)
    leaky = manifest.copy()
    leaky.loc[leaky.index[0], "split"] = "test" if leaky.loc[leaky.index[0], "split"] != "test" else "train"
    with pytest.raises(UserError, match="leaks"):
        check_split(leaky)
    duplicated = manifest.copy()
    duplicated.loc[duplicated["split"] == "test", "sha256"] = duplicated["sha256"].iloc[0]
    with pytest.raises(UserError, match="duplicates_crossing"):
        check_split(duplicated)
    one_class = manifest.assign(label=0)
    with pytest.raises(UserError, match="only label"):
        check_split(one_class)


def _skewed_manifest(patients=400, seed=3):
    """Many one-study patients with one image, a few with many studies and views: sizes from 1 to 24."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(patients):
        studies = int(rng.choice([1, 2, 3, 6], p=[0.6, 0.2, 0.12, 0.08]))
        label = int(rng.random() < 0.4)
        for study in range(studies):
            for view in range(int(rng.choice([1, 2, 4], p=[0.5, 0.3, 0.2]))):
                rows.append({"image_id": f"{p}-{study}-{view}", "patient_id": f"p{p}", "study_id": f"p{p}-s{study}",
                             "region": ("wrist", "hand")[p % 2], "label": label, "sha256": f"{p}-{study}-{view}",
                             "source_split": "train", "source": "mura", "grouping": "patient"})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_patients_of_skewed_sizes_give_every_split_the_same_images_and_studies_per_patient(seed):
    manifest = _skewed_manifest(seed=seed)
    manifest["split"] = assign_splits(manifest, SplitConfig(0.2, 0.15, False, shortcut_auc=0.55, seed=seed))
    full = split_report(manifest, leakage(manifest), official_test=False)
    assert full["grouping"] == {"kinds": {"patient": len(manifest)}, "unit": "patients", "description": "patients",
                                "has_studies": True}
    report = full["splits"]
    for mean in ("images_per_patient", "studies_per_patient"):
        values = [report[split][mean] for split in ("train", "val", "test")]
        assert max(values) <= 1.1 * min(values), f"{mean} per split: {values}"
    shares = manifest["split"].value_counts(normalize=True)
    assert shares["test"] == pytest.approx(0.15, abs=0.02) and shares["val"] == pytest.approx(0.2, abs=0.02)
    for split, rows in manifest.groupby("split"):
        assert rows["label"].mean() == pytest.approx(manifest["label"].mean(), abs=0.03), f"{split} is stratified"


def _fold_config(fold, folds=5, seed=1, official_test=True):
    return SplitConfig(0.2, 0.15, official_test, shortcut_auc=0.55, seed=seed, folds=folds, fold=fold)


def test_folds_test_every_image_exactly_once_and_no_group_crosses_train_and_test():
    manifest = _skewed_manifest(seed=4)
    manifest.loc[manifest["patient_id"].isin(["p1", "p2", "p3"]), "source_split"] = "valid"  # ignored under folds
    tested = []
    for fold in range(5):
        split = assign_splits(manifest, _fold_config(fold))
        check_split(manifest.assign(split=split))  # no patient, study or identical image in two splits
        test_groups = set(manifest.loc[split == "test", "patient_id"])
        assert test_groups.isdisjoint(manifest.loc[split != "test", "patient_id"])
        assert {"train", "val", "test"} == set(split)
        tested.append(manifest.loc[split == "test", "image_id"])
        shares = split.value_counts(normalize=True)
        assert shares["test"] == pytest.approx(0.2, abs=0.02) and shares["val"] == pytest.approx(0.2, abs=0.02)
    pooled = pd.concat(tested)
    assert pooled.is_unique and set(pooled) == set(manifest["image_id"])


def test_the_fold_deal_depends_on_the_seed_and_fold_count_but_not_on_the_fold_tested():
    manifest = _skewed_manifest(seed=5)
    summaries = [cross_validation_summary(manifest, _fold_config(fold)) for fold in range(3)]
    assert len({summary["assignment_sha256"] for summary in summaries}) == 1
    assert [summary["fold"] for summary in summaries] == [0, 1, 2]
    assert sum(summaries[0]["fold_images"]) == summaries[0]["images"] == len(manifest)
    assert cross_validation_summary(manifest, _fold_config(0, seed=2))["assignment_sha256"] != \
        summaries[0]["assignment_sha256"]
    assert cross_validation_summary(manifest, _fold_config(0, folds=4))["assignment_sha256"] != \
        summaries[0]["assignment_sha256"]
    assert cross_validation_summary(manifest, CONFIG) is None
    folds = assign_folds(manifest, _fold_config(0))
    assert folds.equals(assign_folds(manifest, _fold_config(0)))
    for _, rows in manifest.assign(fold=folds).groupby("fold"):
        assert rows["label"].mean() == pytest.approx(manifest["label"].mean(), abs=0.03), "folds are stratified"


def _params(**split):
    return {"base": {"seed": 1}, "split": {"val_fraction": 0.2, "test_fraction": 0.15, "official_test": True,
                                           "shortcut_auc": 0.55, "folds": 0, "fold": 0} | split}


@pytest.mark.parametrize("split, message", [
    ({"folds": 1}, r"split\.folds.*2 or more"),
    ({"folds": 5, "fold": 5}, r"split\.fold.*0 to 4"),
    ({"fold": 2}, r"split\.fold.*only when split\.folds"),
    ({"folds": 2, "val_fraction": 0.5}, r"split\.val_fraction.*2 folds"),
    ({"folds": -1}, r"split\.folds"),
])
def test_bad_fold_params_are_one_line_naming_the_key(split, message):
    with pytest.raises(UserError, match=message) as caught:
        split_config(_params(**split))
    assert "\n" not in str(caught.value)


def test_fold_params_are_read():
    assert split_config(_params(folds=5, fold=3)) == _fold_config(3)
