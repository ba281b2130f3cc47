"""Paired bootstrap, McNemar and Holm on cases small enough to work out by hand."""

import numpy as np
import pytest

from fracture.comparison.paired import bootstrap_p_value, holm, mcnemar_exact, paired_auc_differences
from fracture.metrics import group_resamples

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


@pytest.mark.parametrize(("only_reference", "only_other", "p_value"), [
    (0, 5, 2 * 0.5 ** 5),           # every discordant image favours one model: 2 x P(X <= 0), X ~ Bin(5, 1/2)
    (1, 9, 2 * (1 + 10) / 1024),    # 2 x P(X <= 1), X ~ Bin(10, 1/2)
    (3, 3, 1.0),
])
def test_exact_mcnemar_matches_the_binomial_by_hand(only_reference, only_other, p_value):
    both, neither = 7, 2
    reference = [True] * both + [True] * only_reference + [False] * only_other + [False] * neither
    other = [True] * both + [False] * only_reference + [True] * only_other + [False] * neither
    result = mcnemar_exact(reference, other)
    assert result.p_value == pytest.approx(p_value)
    assert (result.only_reference, result.only_other) == (only_reference, only_other)
    assert result.difference == pytest.approx((only_other - only_reference) / len(reference))


def test_holm_steps_down_and_keeps_order():
    # Sorted 0.01, 0.03, 0.04 times 3, 2, 1 -> 0.03, 0.06, 0.04 -> monotone 0.03, 0.06, 0.06.
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([]) == []
