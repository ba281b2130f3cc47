"""Paired bootstrap, the clustered McNemar test and Holm on cases small enough to work out by hand."""

import math

import numpy as np
import pytest
from scipy.stats import chi2

from fracture.comparison.paired import bootstrap_p_value, clustered_mcnemar, holm, paired_auc_differences
from fracture.evaluation.intervals import group_resamples

LABELS = np.array([1, 0, 1, 0])
GROUPS = np.array(["g1", "g1", "g2", "g2"])


def _differences(scores, resamples=4000, reference="a"):
    draws = group_resamples(GROUPS, resamples, seed=0)
    return paired_auc_differences(LABELS, scores, reference, draws)


def test_identical_models_differ_by_exactly_zero_in_every_shared_resample():
    result = _differences({"a": np.array([0.9, 0.1, 0.2, 0.8]), "b": np.array([0.9, 0.1, 0.2, 0.8])})["b"]
    assert (result.difference, result.low, result.high, result.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_a_perfect_model_against_an_inverted_one_differs_by_one_in_every_resample():
    result = _differences({"a": np.array([0.1, 0.9, 0.2, 0.8]), "b": np.array([0.9, 0.1, 0.8, 0.2])}, 999)["b"]
    assert (result.difference, result.low, result.high) == (1.0, 1.0, 1.0)
    assert result.p_value == pytest.approx(2 / 1000)  # no draw at or below zero: (0 + 1) / (999 + 1), two-sided


def test_two_groups_give_the_hand_computed_bootstrap_distribution():
    # Group 1: a ranks its pair right, b wrong. Group 2: the other way round.
    # Draw {g1, g1} (probability 1/4): AUC a 1, b 0, delta +1. Draw {g2, g2} (1/4): delta -1.
    # Draw {g1, g2} (1/2), the observed sample: a ranks 3 of 4 positive-negative pairs right, b 1 of 4: +0.5.
    scores = {"a": np.array([0.9, 0.1, 0.2, 0.8]), "b": np.array([0.1, 0.9, 0.8, 0.2])}
    draws = group_resamples(GROUPS, 4000, seed=1)
    result = paired_auc_differences(LABELS, scores, "b", draws)["a"]
    assert result.difference == 0.5 and result.resamples == 4000
    assert (result.low, result.high) == (-1.0, 1.0)
    assert result.p_value == pytest.approx(2 * 0.25, abs=0.03)  # a quarter of the draws at or below zero
    deltas = [(1.0 if set(GROUPS[rows]) == {"g1"} else -1.0 if set(GROUPS[rows]) == {"g2"} else 0.5) for rows in draws]
    assert np.mean(np.array(deltas) == 0.5) == pytest.approx(0.5, abs=0.03)


def test_a_resample_with_one_class_only_is_left_out():
    labels, groups = np.array([1, 1, 0, 0]), np.array(["p", "p", "n", "n"])
    draws = group_resamples(groups, 200, seed=0)  # about half the draws hold one group twice: AUC undefined
    result = paired_auc_differences(labels, {"a": np.array([.9, .8, .1, .2]), "b": np.array([.6, .4, .5, .3])},
                                    "a", draws)["b"]
    mixed = sum(len(set(groups[rows])) == 2 for rows in draws)
    assert result.resamples == mixed and 0 < mixed < 200


def test_bootstrap_p_value_counts_both_tails():
    assert bootstrap_p_value(np.array([1.0, 2.0, 3.0])) == pytest.approx(2 * 1 / 4)
    assert bootstrap_p_value(np.array([-1.0, 1.0, 1.0, 1.0])) == pytest.approx(2 * 2 / 5)


def test_with_one_image_per_group_the_clustered_test_is_mcnemars_with_a_small_sample_factor():
    # 7 both right, 1 only the reference, 9 only the other, 2 neither: N = K = 19, b = 1, c = 9.
    # p1 = 8/19, p2 = 16/19; the statistic reduces to (N - 1)(c - b)^2 / (N (b + c) - (c - b)^2) = 1152 / 126.
    reference = [True] * 7 + [True] + [False] * 9 + [False] * 2
    other = [True] * 7 + [False] + [True] * 9 + [False] * 2
    result = clustered_mcnemar(reference, other, [f"g{i}" for i in range(19)])
    assert result.difference == pytest.approx(8 / 19) and (result.only_reference, result.only_other) == (1, 9)
    assert result.p_value == pytest.approx(chi2.sf(1152 / 126, 1))
    variance = (8 / 19) ** 2 / (1152 / 126)
    assert result.high - result.difference == pytest.approx(1.959964 * variance ** 0.5, rel=1e-5)


def test_clustering_widens_the_test_where_one_patients_films_move_together():
    # Four patients with three fractured films each; the other model gets all of A's and B's right where the
    # reference gets them all wrong; both get C and D right. Image-level McNemar: 6 discordant, all one way,
    # p = 2 x 0.5^6 = 0.031. Clustered: p1 = 0.5, p2 = 1; per-group residuals +1.5, +1.5, -1.5, -1.5;
    # var = 4/3 x 9 / 144 = 1/12; statistic 0.25 / (1/12) = 3, p = 0.083.
    groups = ["A"] * 3 + ["B"] * 3 + ["C"] * 3 + ["D"] * 3
    reference = [False] * 6 + [True] * 6
    result = clustered_mcnemar(reference, [True] * 12, groups)
    assert result.difference == 0.5 and result.groups == 4
    assert result.p_value == pytest.approx(chi2.sf(3.0, 1)) and result.p_value > 0.05
    assert result.low == pytest.approx(0.5 - 1.959964 / 12 ** 0.5) and result.high == 1.0, "kept within -1..1"


def test_no_spread_between_groups_falls_back_to_a_sign_test_and_one_group_cannot_be_tested():
    result = clustered_mcnemar([False] * 6, [True] * 6, ["a", "a", "b", "b", "c", "c"])
    assert result.difference == 1.0 and result.p_value == pytest.approx(2 * 0.5 ** 3)
    assert math.isnan(clustered_mcnemar([True, True], [True, False], ["a", "a"]).p_value), "one group: untestable"
    same = clustered_mcnemar([True, False, True], [True, False, True], ["a", "b", "c"])
    assert (same.difference, same.p_value) == (0.0, 1.0)


def test_holm_steps_down_and_keeps_order():
    # Sorted 0.01, 0.03, 0.04 times 3, 2, 1 -> 0.03, 0.06, 0.04 -> monotone 0.03, 0.06, 0.06.
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([]) == []
    adjusted = holm([0.01, float("nan"), 0.04])
    assert adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.04)
