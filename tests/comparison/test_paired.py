"""Paired bootstrap, the clustered McNemar test and Holm: cases worked out by hand, and the test's size measured
under a clustered null."""

import math

import numpy as np
import pytest
from scipy.stats import chi2, t

from fracture.comparison.paired import clustered_mcnemar, holm, paired_auc_differences
from tests.conftest import study_module

LABELS = np.array([1, 0, 1, 0])
GROUPS = np.array(["g1", "g1", "g2", "g2"])


def test_identical_models_differ_by_exactly_zero_and_get_p_one():
    scores = {"a": np.array([0.9, 0.1, 0.2, 0.8]), "b": np.array([0.9, 0.1, 0.2, 0.8])}
    result = paired_auc_differences(LABELS, scores, "a", GROUPS, 500, seed=0)["b"]
    assert (result.difference, result.p_value) == (0.0, 1.0) and math.isnan(result.low), "no draw can vary"


def test_the_difference_gets_a_t_interval_and_p_from_its_bootstrap_standard_error():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(60), 3)
    labels = rng.integers(0, 2, len(groups))
    shared = labels + rng.normal(0, 1, len(groups))
    scores = {"a": shared + rng.normal(0, 0.5, len(groups)), "b": shared + 0.6 * labels}
    result = paired_auc_differences(labels, scores, "a", groups, 1000, seed=3)["b"]
    assert result.df == len(set(groups[labels == 1])) - 1, "t on the groups with a fractured film, less one"
    half = t.ppf(0.975, result.df) * result.se
    assert (result.low, result.high) == pytest.approx((result.difference - half, result.difference + half))
    assert result.p_value == pytest.approx(2 * t.sf(abs(result.difference) / result.se, result.df))
    assert result.p_value < 1e-4, "a clear difference gets a p below what 1,000 counted draws allow (0.002)"
    assert holm([result.p_value] + [0.5] * 38)[0] < 0.05, "so it can pass Holm in the study's 39-test family"
    again = paired_auc_differences(labels, scores, "a", groups, 1000, seed=3)["b"]
    assert (again.low, again.high) == (result.low, result.high), "seeded"


def test_a_pair_of_models_with_an_undefined_auc_is_left_out():
    labels = np.array([1, 1, 1, 1])
    result = paired_auc_differences(labels, {"a": np.array([.9, .8, .1, .2]), "b": np.array([.6, .4, .5, .3])},
                                    "a", np.array(["p", "p", "q", "q"]), 100, seed=0)
    assert result == {}


def test_with_one_image_per_group_the_clustered_test_is_mcnemars_exactly():
    # 7 both right, 1 only the reference, 9 only the other, 2 neither: b = 1, c = 9, McNemar (c - b)^2 / (b + c).
    reference = [True] * 7 + [True] + [False] * 9 + [False] * 2
    other = [True] * 7 + [False] + [True] * 9 + [False] * 2
    result = clustered_mcnemar(reference, other, [f"g{i}" for i in range(19)])
    assert result.difference == pytest.approx(8 / 19) and (result.only_reference, result.only_other) == (1, 9)
    assert result.p_value == pytest.approx(chi2.sf(64 / 10, 1))
    assert result.high - result.difference == pytest.approx(1.959964 * math.sqrt(10) / 19, rel=1e-5)


def test_clustering_widens_the_test_where_one_patients_films_move_together():
    # Four patients with three fractured films each; the other model gets all of A's and B's right where the
    # reference gets them all wrong; both get C and D right. Image-level McNemar: 6 discordant, all one way,
    # chi-square 6, p = 0.014. Clustered: d = 3, 3, 0, 0; (sum d)^2 / sum d^2 = 36 / 18 = 2, p = 0.157.
    groups = ["A"] * 3 + ["B"] * 3 + ["C"] * 3 + ["D"] * 3
    reference = [False] * 6 + [True] * 6
    result = clustered_mcnemar(reference, [True] * 12, groups)
    assert result.difference == 0.5 and result.groups == 4
    assert result.p_value == pytest.approx(chi2.sf(2.0, 1)) and result.p_value > 0.05
    assert result.low == pytest.approx(0.5 - 1.959964 * math.sqrt(18) / 12) and result.high == 1.0, "within -1..1"


def test_the_interval_excludes_zero_exactly_when_the_test_rejects():
    rng = np.random.default_rng(5)
    for _ in range(200):
        groups = rng.integers(0, 12, 40)
        result = clustered_mcnemar(rng.random(40) < 0.6, rng.random(40) < 0.7, groups)
        assert (result.p_value < 0.05) == (result.low > 0 or result.high < 0)


def test_no_image_differs_or_one_group_cannot_be_tested():
    same = clustered_mcnemar([True, False, True], [True, False, True], ["a", "b", "c"])
    assert (same.difference, same.low, same.high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    assert math.isnan(clustered_mcnemar([True, True], [True, False], ["a", "a"]).p_value), "one group: untestable"


@pytest.mark.parametrize("groups", [15, 25])
def test_size_under_a_clustered_null_holds_with_few_groups(groups):
    # studies/mcnemar_size.py, 4,000 data sets: 0.044 at 15 groups, 0.049 at 25, 0.044 at 92 (Obuchowski's
    # centred variance, used before: 0.087, 0.074, 0.048). 1,500 data sets here: a rate above 0.065 is 2.7
    # standard errors above 0.05.
    rng = np.random.default_rng(groups)
    null = study_module("mcnemar_size").clustered_null
    rejections = [clustered_mcnemar(*null(rng, groups)).p_value < 0.05 for _ in range(1500)]
    assert np.mean(rejections) <= 0.065


def test_holm_steps_down_and_keeps_order():
    # Sorted 0.01, 0.03, 0.04 times 3, 2, 1 -> 0.03, 0.06, 0.04 -> monotone 0.03, 0.06, 0.06.
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([]) == []
    adjusted = holm([0.01, float("nan"), 0.04])
    assert adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.04)
