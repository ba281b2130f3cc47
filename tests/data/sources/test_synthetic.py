import hashlib
import math

import cv2
import numpy as np
import pandas as pd
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fracture.data.folder import DataFolder
from fracture.data.sources import phantom
from fracture.data.sources.mura import parse_mura
from fracture.data.sources.synthetic import MURA_ROOT, SyntheticConfig, draw_study, generate, plan_films, plan_studies


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
    manifest = parse_mura(DataFolder(tiny_synthetic), source="synthetic")
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


def _study_sample(patients: int, image_size: int):
    config = SyntheticConfig(patients=patients, image_size=image_size, seed=5)
    return config, plan_studies(config)


def _plates_drawn(film) -> int:
    """Growth plates that change the film: removing each one must change its attenuation map."""
    scene = film.scene
    texture = np.zeros((film.height, film.width), dtype=np.float32)
    full = phantom.attenuation_map(scene, film.height, film.width, film.pose, texture)
    drawn = 0
    for index, cut in enumerate(scene.breaks):
        if cut.angle != math.pi / 2 or cut.jagged or cut.shift:  # fractures are oblique or jagged; plates not
            continue
        without = phantom.Scene(scene.bones, scene.blobs, scene.tissue, scene.breaks[:index] + scene.breaks[index + 1:])
        drawn += not np.array_equal(full, phantom.attenuation_map(without, film.height, film.width, film.pose,
                                                                  texture))
    return drawn


def test_label_independent_properties_have_one_distribution_in_normal_and_abnormal_studies():
    """Only the fracture may differ: growth plates, exposure, noise, markers, collimation, size and views may not."""
    config, plans = _study_sample(patients=500, image_size=64)
    rows = []
    for plan in plans:
        for film in plan_films(plan, config):
            exposure = film.exposure
            rows.append({"abnormal": plan.abnormal, "views": plan.views, "pediatric": plan.pediatric,
                         "plates": _plates_drawn(film) if plan.pediatric else np.nan,
                         "dose": exposure.dose, "gamma": exposure.gamma, "noise": exposure.noise,
                         "blur": exposure.blur, "background": exposure.background,
                         "collimated": exposure.collimation is not None, "marker": exposure.marker,
                         "corner": exposure.marker_corner, "width": film.width})
    films = pd.DataFrame(rows)
    abnormal, normal = films[films["abnormal"]], films[~films["abnormal"]]
    assert films["plates"].mean() > 0.5, "children's films show their growth plates"
    for column in ("plates", "dose", "gamma", "noise", "blur", "background", "width", "views"):
        p_value = stats.ks_2samp(abnormal[column].dropna(), normal[column].dropna()).pvalue
        assert p_value > 0.001, f"{column} differs between abnormal and normal films (KS p = {p_value:.2g})"
    for column in ("pediatric", "collimated", "marker", "corner"):
        table = pd.crosstab(films["abnormal"], films[column])
        p_value = stats.chi2_contingency(table).pvalue if table.shape[1] > 1 else 1.0
        assert p_value > 0.001, f"{column} differs between abnormal and normal films (chi-square p = {p_value:.2g})"


def _global_statistics(image: np.ndarray) -> list[float]:
    """What a shortcut could use: brightness, contrast, percentiles, edge density."""
    values = image.astype(np.float64)
    edges = cv2.Canny(image, 50, 150)
    return [values.mean(), values.std(), *np.percentile(values, [5, 25, 50, 75, 95]), (edges > 0).mean()]


def test_global_image_statistics_do_not_predict_the_label():
    config, plans = _study_sample(patients=700, image_size=128)
    features, labels, patients = [], [], []
    for plan in plans:
        for image in draw_study(plan, config):
            features.append(_global_statistics(image))
            labels.append(int(plan.abnormal))
            patients.append(plan.patient)
    features, labels, patients = np.array(features), np.array(labels), np.array(patients)
    fitted = patients % 2 == 0  # whole patients on each side
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(features[fitted], labels[fitted])
    auc = roc_auc_score(labels[~fitted], model.predict_proba(features[~fitted])[:, 1])
    assert auc <= 0.60, f"global statistics separate the classes (held-out ROC-AUC {auc:.3f})"


def test_each_fracture_box_holds_what_the_fracture_changed_on_the_film():
    """Render each abnormal film with and without its fracture, from the same random state: the pixels that
    differ lie in the box written for it. Only undisplaced fractures: a displaced one moves its whole distal
    fragment, which no annotator boxes."""
    import copy

    config = SyntheticConfig(patients=30, image_size=128, abnormal_fraction=0.6, seed=3)
    checked = 0
    for plan in [plan for plan in plan_studies(config) if plan.abnormal]:
        for film in plan_films(plan, config):
            if film.fracture.shift or film.fracture.angulation:
                continue
            box = film.fracture_box()
            unbroken = copy.deepcopy(film)
            unbroken.scene.breaks = [cut for cut in film.scene.breaks if cut is not film.fracture]
            change = np.abs(film.render().astype(int) - unbroken.render().astype(int))
            if change.sum() < 50:  # this view does not show it (collimated away, or too subtle to leave a trace)
                continue
            assert box is not None
            x, y, width, height = map(int, box)
            inside = change[y:y + height, x:x + width].sum()
            assert inside / change.sum() > 0.9, f"{plan.folder}: the box misses the fracture"
            assert width * height < 0.15 * change.size, "a box, not the whole film"
            checked += 1
    assert checked >= 10


def test_generate_writes_the_boxes_as_coco_for_the_source_to_read(tmp_path):
    from fracture.data.annotations import read_coco
    from fracture.data.folder import DataFolder
    from fracture.data.sources.mura import parse_mura
    from fracture.data.sources.synthetic import synthetic_annotations

    generate(SyntheticConfig(patients=8, image_size=64, abnormal_fraction=0.5, seed=1), tmp_path)
    manifest = parse_mura(DataFolder(tmp_path))
    relative, image_ids = synthetic_annotations(DataFolder(tmp_path), manifest)
    found, left_out = read_coco(tmp_path / relative, relative, image_ids)
    abnormal = set(manifest.loc[manifest["label"] == 1, "image_id"])
    assert found and set(found) <= abnormal and sum(left_out.values()) == 0
    assert len(found) >= 0.8 * len(abnormal), "nearly every fractured film has its box"
