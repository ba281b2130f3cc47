"""The study scripts' recipes are valid params, and the one-command recipe refuses a wrong folder in one line."""

import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml

from fracture.core.params import check_known_keys
from fracture.data.enhance import enhance_config
from fracture.data.split import split_config
from fracture.training.config import train_config
from tests.conftest import REPO, default_params, study_module, with_overrides

RECIPES = ["BASE", "FAST", "MODERN", "MODERN224", "MAP224", "FINE224", "CROP448", "RECOMMENDED"]


def _recipe(name: str) -> dict:
    """A recipe of studies/recipes.sh as the params it sets, read the way `dvc exp run -S` reads them."""
    words = subprocess.run(["bash", "-c", f'source studies/recipes.sh && printf "%s\\n" "${{{name}[@]}}"'],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout.splitlines()
    assert words[::2] == ["-S"] * (len(words) // 2), words
    return {key: yaml.safe_load(value) for key, value in (word.split("=", 1) for word in words[1::2])}


@pytest.mark.parametrize("name", RECIPES)
def test_every_recipe_sets_known_params_to_values_the_stages_accept(name):
    recipe = _recipe(name)
    params = with_overrides(default_params(), recipe | {"split.folds": 3, "split.fold": 2})
    check_known_keys(params)
    train, enhance = train_config(params), enhance_config(params)
    split_config(params)
    assert train.arch.startswith("efficientnet_lite") and train.pretrained and enhance.preprocessing.image_size >= 128


def test_the_recipes_build_on_each_other():
    base, modern, recommended = _recipe("BASE"), _recipe("MODERN"), _recipe("RECOMMENDED")
    assert all(modern[key] == value for key, value in base.items()), "the modern recipe changes no base setting"
    assert modern["train.lr_schedule.type"] == "cosine" and modern["train.ema"] > 0
    assert set(recommended) >= set(base)


def test_the_one_command_refuses_a_folder_that_is_not_there_in_one_line(tmp_path):
    result = subprocess.run(["bash", "studies/recommended.sh", str(tmp_path / "missing")], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip() == f"recommended: {tmp_path / 'missing'} is not a folder; pass the folder of " \
                                    f"your labelled films"


def _predictions(path, split: str, hand_shift: float, leg_shift: float, seed: int) -> None:
    """Made-up predictions where hands and legs are told apart differently well."""

    rng = np.random.default_rng(seed)
    count = 240
    region = np.where(np.arange(count) % 2, "hand", "leg")
    labels = rng.integers(0, 2, count)
    shift = np.where(region == "hand", hand_shift, leg_shift)
    pd.DataFrame({"image_id": [f"{split}{i}" for i in range(count)], "patient_id": [f"{split}p{i // 2}" for i in
                                                                                    range(count)],
                  "label": labels, "probability": 1 / (1 + np.exp(-(shift * labels + rng.normal(0, 1, count)))),
                  "region": region, "split": split}).to_csv(path, index=False)


def test_the_domain_gap_of_a_region_compares_that_region_in_both_sets(tmp_path):
    # Test split: hands poor (shift 0.3), legs good (3). Outside set: hands as good as legs (3). All test films
    # would make the hand gap look small; hands against hands show the outside set's hands far better.
    _predictions(tmp_path / "test.csv", "test", 0.3, 3.0, seed=0)
    _predictions(tmp_path / "outside.csv", "outside", 3.0, 3.0, seed=1)
    lines = subprocess.run(["python", "studies/domain_gap.py", tmp_path / "test.csv", tmp_path / "outside.csv",
                            "--region", "hand", "--resamples", "300"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.splitlines()
    assert lines[0].startswith("test split (hand)") and "120 images" in lines[0]
    assert lines[1].startswith("outside set (hand)") and "120 images" in lines[1]
    gap, low = (float(text) for text in lines[2].split(": ")[1].replace("[", "").replace(",", "").split()[:2])
    assert gap > 0.2 and low > 0, lines[2]


def _shifted_fold(path, seed: int) -> None:
    """One fold's predictions whose log-odds say +2 more than the truth on validation and test alike, as class
    weights make them."""
    rng = np.random.default_rng(seed)
    frames = []
    for split, count in (("val", 400), ("test", 400)):
        logits = rng.normal(-1.5, 1.5, count)
        labels = (rng.random(count) < 1 / (1 + np.exp(-logits))).astype(int)
        frames.append(pd.DataFrame({"patient_id": [f"{seed}{split}{i // 2}" for i in range(count)], "label": labels,
                                    "probability": 1 / (1 + np.exp(-(logits + 2.0))), "split": split}))
    pd.concat(frames).to_csv(path, index=False)


def test_the_recalibration_study_finds_that_platt_undoes_a_shift_that_a_temperature_cannot(tmp_path):
    for fold in (0, 1):
        _shifted_fold(tmp_path / f"f{fold}.csv", seed=fold)
    lines = subprocess.run(["python", "studies/recalibration.py", tmp_path / "f0.csv", tmp_path / "f1.csv",
                            "--resamples", "200"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.splitlines()
    assert lines[0].startswith("800 test films") and "2 folds" in lines[0]
    found = {line.split(": ")[0].strip(): [float(text.strip("[],")) for text in line.split(": ")[1].split()]
             for line in lines[1:]}
    assert found["as written"][0] > 0.2 and found["platt"][0] < 0.05, found
    assert found["platt - temperature"][2] < 0, "Platt's ECE is below the temperature's, the interval says so"
    missing = subprocess.run(["python", "studies/recalibration.py", tmp_path / "nope.csv"], cwd=REPO,
                             capture_output=True, text=True)
    assert missing.returncode == 1 and "no file" in missing.stderr and "Traceback" not in missing.stderr


def _peaked_maps(count: int, seed: int):
    """Films whose fractured half each has a sharp peak inside a broad plateau that leans towards fracture: the
    plateau's box centres off the fracture, the peak's on it but on every fourth fractured film, whose peak is
    elsewhere. Normal films' maps are flat below."""
    rng = np.random.default_rng(seed)
    maps, truth = np.full((count, 64, 64), -5.0), {}
    for index in range(0, count, 2):
        x, y = (int(value) for value in rng.integers(36, 52, 2))
        maps[index] = 0.5
        peak = (4, 4) if index % 8 == 0 else (y, x)
        maps[index, peak[0]:peak[0] + 4, peak[1]:peak[1] + 4] = 3.0
        truth[f"f{index}"] = [{"box": [x - 2.0, y - 2.0, 8.0, 8.0]}]
    rows = pd.DataFrame({"image_id": [f"f{index}" for index in range(count)],
                         "patient_id": [f"p{index // 2}" for index in range(count)],
                         "label": [1 - index % 2 for index in range(count)]})
    return rows, truth, maps


def test_the_box_rule_study_chooses_a_peak_rule_on_validation_and_pairs_it_on_test_films():
    box_rule = study_module("box_rule")
    chosen, table = box_rule.choose_rule(*_peaked_maps(40, seed=0))
    found = {rule: froc for rule, froc, _ in table}
    assert found[box_rule.FIRST_RULE] == (0.0, 0.0, 0.0), "the plateau's box centres off every fracture"
    assert chosen == (0.0, 1.0), "every peak rule finds the same fractures; a tie goes to the higher level, then drop"
    assert found[chosen] == (0.75, 0.75, 0.75)
    default = (box_rule.REGION_LEVEL, box_rule.PEAK_DROP)
    pairs = box_rule.paired_rules(*_peaked_maps(40, seed=1), chosen, resamples=100)
    assert [(rule, other) for _, rule, _, other, _ in pairs] == [
        (chosen, box_rule.FIRST_RULE), (default, box_rule.FIRST_RULE), (chosen, default)]
    first, _, last = (paired for *_, paired in pairs)
    assert first["froc_0.5"]["value"] == 0.75 and first["froc_0.5"]["low"] > 0.4
    assert last["froc_0.5"]["value"] == 0.0, "the default rule finds each peak too"
    assert pairs[0][2]["fractures"] == 20 and pairs[0][2]["films"] == 40
    assert len(box_rule.paired_rules(*_peaked_maps(40, seed=1), default, resamples=20)) == 2, "no pairing with itself"


def test_the_box_rule_study_pairs_two_models_boxes_on_the_same_test_films():
    box_rule = study_module("box_rule")
    rows, truth, maps = _peaked_maps(40, seed=1)
    mine, theirs, paired = box_rule.paired_models(rows, truth, maps, np.minimum(maps, 0.5), resamples=100)
    assert mine["froc_0.5"]["value"] == 0.75 and theirs["froc_0.5"]["value"] == 0.0, "a plateau alone is boxed off"
    assert paired["froc_0.5"]["value"] == 0.75 and paired["froc_0.5"]["low"] > 0.4
