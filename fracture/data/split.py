"""The split stage: train/val/test by patient, stratified by label, seeded.

A patient's images all land in one split, so no film, view or near-identical
follow-up of a patient can be learned in training and scored in test. Where a
source has an official test set (MURA's `valid`), it is kept as the test
split. The result is checked, not trusted: a patient, study or identical image
in two splits stops the stage.

With `split.folds: K` the groups are dealt once into K folds (the deal
depends on the data, the seed and K only, never on `split.fold`), fold
`split.fold` is the test split and validation is dealt from the rest. Run
every fold and each image is tested exactly once, by a model that never saw
its group: `compare` pools the K test splits into one out-of-fold result.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fracture.core.errors import UserError
from fracture.core.params import Section, seed
from fracture.data.grouping import grouping_summary
from fracture.data.manifest import SPLITS, label_counts

OFFICIAL_TEST_SPLITS = ("valid", "test")


@dataclass(frozen=True)
class SplitConfig:
    val_fraction: float
    test_fraction: float
    official_test: bool
    shortcut_auc: float  # a covariate whose levels alone reach this training AUC is named a possible shortcut
    seed: int
    folds: int = 0  # 0: one split; K >= 2: grouped K-fold cross-validation
    fold: int = 0  # with folds: the fold tested


def split_config(params: dict) -> SplitConfig:
    section = Section(params, "split")
    config = SplitConfig(
        val_fraction=section.number("val_fraction", minimum=0.01, maximum=0.9),
        test_fraction=section.number("test_fraction", minimum=0.01, maximum=0.9),
        official_test=section.boolean("official_test"),
        shortcut_auc=section.number("shortcut_auc", minimum=0.5, maximum=1.0),
        seed=seed(params),
        folds=section.integer("folds", minimum=0, maximum=100),
        fold=section.integer("fold", minimum=0),
    )
    if config.val_fraction + config.test_fraction >= 1:
        raise section.fail("val_fraction", "split.val_fraction + split.test_fraction must be below 1")
    if config.folds == 1:
        raise section.fail("folds", "0 (one train/val/test split) or 2 or more folds")
    if config.fold >= max(config.folds, 1):
        raise section.fail("fold", f"a fold number from 0 to {config.folds - 1}" if config.folds
                           else "0 (split.fold picks the tested fold only when split.folds is 2 or more)")
    if config.folds and config.val_fraction + 1 / config.folds >= 1:
        raise section.fail("val_fraction", f"below {1 - 1 / config.folds:g}: with {config.folds} folds "
                           f"a fold is the test split and validation is dealt from the rest")
    return config


def _patient_table(manifest: pd.DataFrame) -> pd.DataFrame:
    """One row per patient: image and study counts and the stratum (main region, majority label)."""
    grouped = manifest.groupby("patient_id")
    table = pd.DataFrame({
        "images": grouped.size(),
        "studies": grouped["study_id"].nunique(),
        "abnormal": grouped["label"].mean() >= 0.5,
        "region": grouped["region"].agg(lambda regions: regions.value_counts().index[0]),
    })
    return table.sort_index()


def _assign_patients(patients: pd.DataFrame, shares: dict[str, float], rng_seed: int) -> pd.Series:
    """Deal patients, stratum by stratum, to the part (split or fold) that keeps every share closest to its target.

    The shares tracked are, per label, of images, of studies and of patients,
    and per stratum of images. Balancing patients as well as images keeps the
    images (and studies) per patient equal across splits: a split of one-study
    patients would make validation, which picks the epoch and the thresholds,
    unlike the test. Within a stratum the biggest patients are dealt first (in
    seeded random order among equals), while the small ones can still even out.
    """
    names = list(shares)
    targets = np.array(list(shares.values()))
    assignment = pd.Series(names[0], index=patients.index, dtype=object)
    dealt = {label: np.zeros((3, len(names))) for label in (False, True)}  # images, studies, patients
    for number, ((_, abnormal), stratum) in enumerate(patients.groupby(["region", "abnormal"], sort=True)):
        shuffled = stratum.iloc[np.random.default_rng([rng_seed, number]).permutation(len(stratum))]
        ordered = shuffled.sort_values("images", ascending=False, kind="stable")
        stratum_images = np.zeros(len(names))
        for patient, row in ordered.iterrows():
            sizes = np.array([row["images"], row["studies"], 1.0])
            totals = dealt[abnormal].sum(axis=1) + sizes
            stratum_total = stratum_images.sum() + row["images"]

            def cost(choice: int) -> float:
                label_shares = (dealt[abnormal] + np.outer(sizes, np.eye(len(names))[choice])) / totals[:, None]
                stratum_share = (stratum_images + row["images"] * np.eye(len(names))[choice]) / stratum_total
                return float(np.square(label_shares - targets).sum() + np.square(stratum_share - targets).sum())

            choice = min(range(len(names)), key=cost)
            dealt[abnormal][:, choice] += sizes
            stratum_images[choice] += row["images"]
            assignment[patient] = names[choice]
    return assignment


def _with_train(fractions: dict[str, float]) -> dict[str, float]:
    return {"train": 1.0 - sum(fractions.values()), **fractions}


def uses_official_test(manifest: pd.DataFrame, config: SplitConfig) -> bool:
    """Whether the source's own test set becomes the test split (never under cross-validation)."""
    return (config.official_test and not config.folds
            and bool(manifest["source_split"].isin(OFFICIAL_TEST_SPLITS).any()))


def assign_folds(manifest: pd.DataFrame, config: SplitConfig) -> pd.Series:
    """The fold of every row: groups dealt into `folds` equal, stratified parts, the same for every `fold`."""
    shares = {str(number): 1 / config.folds for number in range(config.folds)}
    by_patient = _assign_patients(_patient_table(manifest), shares, config.seed).astype(int)
    return manifest["patient_id"].map(by_patient)


def fold_assignment_digest(manifest: pd.DataFrame, folds: pd.Series) -> str:
    """A fingerprint of which image is in which fold: folds of one deal share it, and only they may be pooled."""
    lines = sorted(f"{image}\t{patient}\t{fold}\n" for image, patient, fold
                   in zip(manifest["image_id"], manifest["patient_id"], folds))
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def assign_splits(manifest: pd.DataFrame, config: SplitConfig) -> pd.Series:
    """The split of every row."""
    official = manifest["source_split"].isin(OFFICIAL_TEST_SPLITS)
    if config.folds:
        tested = assign_folds(manifest, config) == config.fold
        test_patients = set(manifest.loc[tested, "patient_id"])
        val_share = config.val_fraction / (1 - 1 / config.folds)
    elif uses_official_test(manifest, config):
        test_patients = set(manifest.loc[official, "patient_id"])
        val_share = config.val_fraction
    else:
        fractions = {"test": config.test_fraction, "val": config.val_fraction}
        return manifest["patient_id"].map(_assign_patients(_patient_table(manifest), _with_train(fractions),
                                                           config.seed))
    rest = manifest[~manifest["patient_id"].isin(test_patients)]
    by_patient = _assign_patients(_patient_table(rest), _with_train({"val": val_share}), config.seed)
    by_patient = pd.concat([by_patient, pd.Series("test", index=sorted(test_patients), dtype=object)])
    return manifest["patient_id"].map(by_patient)


def cross_validation_summary(manifest: pd.DataFrame, config: SplitConfig) -> dict | None:
    """split.json's record of the fold deal, which `compare` checks before it pools folds."""
    if not config.folds:
        return None
    folds = assign_folds(manifest, config)
    return {"folds": config.folds, "fold": config.fold, "images": int(len(manifest)),
            "fold_images": [int((folds == number).sum()) for number in range(config.folds)],
            "assignment_sha256": fold_assignment_digest(manifest, folds)}


def leakage(manifest: pd.DataFrame) -> dict:
    """How many groups (patient_id), studies and identical images appear in more than one split.

    `patients_crossing` counts whatever `patient_id` is; split.json's
    `grouping` says what that is (patients, pseudo-patients, groups, images).
    """
    def crossing(column: str) -> int:
        return int((manifest.groupby(column)["split"].nunique() > 1).sum())

    return {"patients_crossing": crossing("patient_id"), "studies_crossing": crossing("study_id"),
            "duplicates_crossing": crossing("sha256")}


def check_split(manifest: pd.DataFrame) -> dict:
    """Prove the split is clean and usable; stop with the cause when it is not."""
    found = leakage(manifest)
    if any(found.values()):
        raise UserError(f"split leaks between splits ({found}); refusing to write it")
    for split in ("train", "val"):
        labels = set(manifest.loc[manifest["split"] == split, "label"])
        if len(labels) < 2:
            raise UserError(f"the {split} split has only label(s) {sorted(labels)}; it needs both classes: "
                            f"use more data (data.synthetic.patients) or a larger split.val_fraction")
    return found


def split_report(manifest: pd.DataFrame, found: dict, official_test: bool) -> dict:
    splits = {}
    for split in SPLITS:
        rows = manifest[manifest["split"] == split]
        splits[split] = {
            "images": int(len(rows)), "patients": int(rows["patient_id"].nunique()),
            "studies": int(rows["study_id"].nunique()),
            "images_per_patient": _mean_ratio(len(rows), rows["patient_id"].nunique()),
            "studies_per_patient": _mean_ratio(rows["study_id"].nunique(), rows["patient_id"].nunique()),
            "abnormal": int((rows["label"] == 1).sum()), "normal": int((rows["label"] == 0).sum()),
            "by_region": label_counts(rows),
        }
    return {"splits": splits, "leakage": found, "official_test": official_test,
            "grouping": grouping_summary(manifest)}


def _mean_ratio(count: int, groups: int) -> float | None:
    return round(count / groups, 4) if groups else None


def count_table(report: dict) -> str:
    """The per-split counts by region and label, as a text table for the log."""
    lines = [f"{'split':<6} {'region':<10} {'normal':>7} {'abnormal':>9}"]
    for split in SPLITS:
        for region, labels in report["splits"][split]["by_region"].items():
            lines.append(f"{split:<6} {region:<10} {labels['normal']:>7} {labels['abnormal']:>9}")
    return "\n".join(lines)
