"""Scoring a map against the annotators' boxes on made-up maps whose right answer is known."""

import numpy as np
import pytest

from fracture.evaluation.localisation import (
    centred_gaussian,
    image_scores,
    mass_inside,
    outline_mask,
    pointing_hit,
    summarise,
    tolerance_pixels,
)

BOX = {"box": [40.0, 20.0, 16.0, 8.0], "polygons": []}  # x 40..56, y 20..28 in a 64 px square


def _peak_at(x: int, y: int, size: int = 64) -> np.ndarray:
    heat = np.zeros((size, size))
    heat[y, x] = 1.0
    return heat


def test_a_map_peaking_inside_the_box_is_a_hit_and_one_peaking_outside_a_miss():
    assert pointing_hit(_peak_at(47, 23), [BOX], tolerance=0)
    assert not pointing_hit(_peak_at(10, 50), [BOX], tolerance=0)
    assert not pointing_hit(_peak_at(57, 23), [BOX], tolerance=0), "pixel 57 spans 57..58, its centre past 56"
    assert pointing_hit(_peak_at(57, 23), [BOX], tolerance=2), "within the tolerance"
    assert pointing_hit(_peak_at(5, 5), [BOX, {"box": [0.0, 0.0, 10.0, 10.0], "polygons": []}], tolerance=0)
    assert tolerance_pixels(128) == 4 and tolerance_pixels(224) == 7


def test_mass_inside_the_outline_and_what_an_even_map_scores():
    mask = outline_mask(64, [BOX])
    assert mask.sum() == 16 * 8 and mask[20:28, 40:56].all()
    assert mass_inside(np.ones((64, 64)), mask) == pytest.approx(mask.mean()), "an even map: the outline's share"
    assert mass_inside(_peak_at(47, 23), mask) == 1.0 and mass_inside(_peak_at(1, 1), mask) == 0.0
    assert np.isnan(mass_inside(-np.ones((64, 64)), mask)), "no positive mass, nothing to share"
    triangle = {"box": [0.0, 0.0, 32.0, 32.0], "polygons": [[0.0, 0.0, 32.0, 0.0, 0.0, 32.0]]}
    assert outline_mask(64, [triangle]).sum() == pytest.approx(32 * 32 / 2, rel=0.1), "the outline, not the box"


def test_the_chance_map_points_at_the_centre():
    centre = {"box": [28.0, 28.0, 8.0, 8.0], "polygons": []}
    assert pointing_hit(centred_gaussian(64), [centre], tolerance=0)
    scores = image_scores(_peak_at(47, 23), [BOX])
    assert scores["hit"] == 1.0 and scores["chance_hit"] == 0.0 and scores["mass_inside"] == 1.0
    assert scores["chance_mass_inside"] < scores["outline_share"] * 2


def test_means_have_intervals_over_patient_groups():
    scores = [{"hit": 1.0, "mass_inside": 0.5}, {"hit": 0.0, "mass_inside": float("nan")},
              {"hit": 1.0, "mass_inside": 0.3}, {"hit": 0.0, "mass_inside": 0.1}]
    summary = summarise(scores, ["a", "a", "b", "c"], resamples=500, seed=0, level=0.95)
    assert (summary["images"], summary["groups"]) == (4, 3)
    assert summary["hit"]["value"] == 0.5 and summary["mass_inside"]["value"] == pytest.approx(0.3)
    assert 0 <= summary["hit"]["low"] <= 0.5 <= summary["hit"]["high"] <= 1


def test_no_hit_at_all_gets_a_wilson_interval_not_a_certain_zero():
    scores = [{"hit": 0.0, "chance_hit": 1.0, "mass_inside": 0.01} for _ in range(41)]
    summary = summarise(scores, [f"g{index % 18}" for index in range(41)], resamples=200, seed=0, level=0.95)
    assert summary["hit"]["value"] == 0.0 and summary["hit"]["method"] == "wilson"
    assert summary["hit"]["low"] == 0.0 and summary["hit"]["high"] == pytest.approx(0.0857, abs=1e-3)  # 0 of 41
    assert summary["chance_hit"]["method"] == "wilson" and summary["chance_hit"]["low"] == pytest.approx(1 - 0.0857,
                                                                                                       abs=1e-3)
    assert summary["mass_inside"]["method"] is None, "a mean share is no count: no Wilson, and every draw is alike"


def test_where_a_missing_map_went_the_padding_or_the_films_edge():
    from fracture.imaging.filters import Box

    film = Box(top=0, left=12, height=64, width=40)  # a tall film letterboxed into 64 px: padding left and right
    far = [{"box": [30, 30, 2, 2], "polygons": []}]
    in_padding, on_edge, middle = (image_scores(_peak_at(x, 30), far, film) for x in (4, 13, 31))
    assert (in_padding["peak_in_padding"], in_padding["peak_at_film_edge"]) == (1.0, 0.0)
    assert (on_edge["peak_in_padding"], on_edge["peak_at_film_edge"]) == (0.0, 1.0)
    assert (middle["peak_in_padding"], middle["peak_at_film_edge"]) == (0.0, 0.0)
    assert image_scores(_peak_at(1, 30), far)["peak_at_film_edge"] == 1.0, "without a film box, the square's edge"


def test_the_films_place_in_the_square_comes_from_the_source_size_filter_recorded():
    import pandas as pd

    from fracture.evaluation.localisation import film_boxes
    from fracture.imaging.filters import Box
    from fracture.imaging.preprocessing import Preprocessing

    rows = pd.DataFrame({"image_id": ["tall", "unknown"], "cov_source_size": ["40x64", ""]})
    assert film_boxes(rows, Preprocessing(32)) == {"tall": Box(top=0, left=6, height=32, width=20)}
    assert film_boxes(rows, Preprocessing(32, fit="stretch")) == {"tall": Box(0, 0, 32, 32)}
