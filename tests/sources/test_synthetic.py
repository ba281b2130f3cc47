import hashlib

import pandas as pd

from fracture.sources.mura import parse_mura
from fracture.sources.synthetic import MURA_ROOT, SyntheticConfig, generate, plan_studies


def test_layout_and_index_files_follow_mura_v1_1(tiny_synthetic):
    root = tiny_synthetic / MURA_ROOT
    images = sorted(root.rglob("*.png"))
    assert images, "images were written"
    for image in images:
        parts = image.relative_to(root).parts
        assert parts[0] in ("train", "valid") and parts[1].startswith("XR_")
        assert parts[2].startswith("patient") and parts[3].startswith("study")
        assert parts[3].endswith(("_positive", "_negative")) and parts[4].startswith("image")
    listed = (root / "train_image_paths.csv").read_text().split() + (root / "valid_image_paths.csv").read_text().split()
    assert sorted(listed) == sorted(f"{MURA_ROOT}/{image.relative_to(root).as_posix()}" for image in images)
    studies = pd.read_csv(root / "train_labeled_studies.csv", header=None, names=["folder", "label"])
    assert set(studies["label"]) <= {0, 1}
    assert all(folder.endswith("/") for folder in studies["folder"])
    assert all(folder.rstrip("/").endswith("_positive") == bool(label) for folder, label in studies.values)


def test_parsed_by_the_mura_parser_with_patients_studies_and_views(tiny_synthetic):
    manifest = parse_mura(tiny_synthetic, source="synthetic")
    assert set(manifest["source_split"]) == {"train", "valid"}
    assert manifest.groupby("study_id").size().min() >= 2, "every study has several views"
    assert manifest.groupby("study_id")["label"].nunique().max() == 1, "a study has one label"


def test_regions_and_studies_per_patient_at_scale():
    plans = plan_studies(SyntheticConfig(patients=300, seed=0))
    regions = {plan.region for plan in plans}
    assert {"wrist", "hand", "finger", "forearm", "elbow", "humerus", "shoulder"} == regions
    studies = pd.Series([plan.patient for plan in plans]).value_counts()
    assert studies.max() >= 2, "some patients have several studies"
    abnormal = sum(plan.abnormal for plan in plans) / len(plans)
    assert 0.3 < abnormal < 0.5
    valid_patients = {plan.patient for plan in plans if plan.split == "valid"}
    assert valid_patients.isdisjoint({plan.patient for plan in plans if plan.split == "train"})


def _digest(root):
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_same_seed_same_bytes_whatever_the_number_of_workers(tmp_path):
    config = SyntheticConfig(patients=6, image_size=64, seed=11)
    generate(config, tmp_path / "one", workers=1)
    generate(config, tmp_path / "two", workers=2)
    assert _digest(tmp_path / "one") == _digest(tmp_path / "two")


def test_another_seed_gives_other_images(tmp_path):
    generate(SyntheticConfig(patients=4, image_size=64, seed=1), tmp_path / "a")
    generate(SyntheticConfig(patients=4, image_size=64, seed=2), tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "b")
