"""Uncertainty measures on tiny arrays whose values are worked out by hand in each test."""

from __future__ import annotations

import math

import numpy as np
import pytest

from signoff.errors import InvalidInput
from signoff.routing.uncertainty import entropy, least_confidence, margin, spread, vote_entropy

P = np.array([[0.7, 0.2, 0.1], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])

# Three members, two cases, two labels. Case 0: the members give label 0 0.9, 0.6 and 0.3, so they vote
# 0, 0, 1 and the mean (0.6) picks label 0. Case 1: every member gives label 0 0.8.
MEMBERS = np.array(
    [
        [[0.9, 0.1], [0.8, 0.2]],
        [[0.6, 0.4], [0.8, 0.2]],
        [[0.3, 0.7], [0.8, 0.2]],
    ]
)


def test_least_confidence_is_one_minus_the_top_probability() -> None:
    np.testing.assert_allclose(least_confidence(P), [0.3, 0.5, 0.0])


def test_margin_is_the_gap_between_the_top_two() -> None:
    np.testing.assert_allclose(margin(P), [0.5, 0.0, 1.0])


def test_margin_finds_the_top_two_in_any_column_order() -> None:
    np.testing.assert_allclose(margin([[0.1, 0.6, 0.3], [0.25, 0.05, 0.7]]), [0.3, 0.45])


def test_entropy_is_in_nats_with_zero_log_zero_taken_as_zero() -> None:
    first = -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1))
    assert first == pytest.approx(0.801819, abs=1e-6)
    np.testing.assert_allclose(entropy(P), [first, math.log(2), 0.0], atol=1e-12)


def test_entropy_of_a_uniform_row_is_log_k() -> None:
    np.testing.assert_allclose(entropy(np.full((1, 4), 0.25)), [math.log(4)])


def test_vote_entropy_is_the_entropy_of_the_members_votes() -> None:
    split = -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))
    np.testing.assert_allclose(vote_entropy(MEMBERS), [split, 0.0], atol=1e-12)


def test_vote_entropy_ignores_how_sure_the_members_are() -> None:
    sure = np.array([[[0.99, 0.01]], [[0.99, 0.01]]])
    unsure = np.array([[[0.51, 0.49]], [[0.51, 0.49]]])
    np.testing.assert_allclose(vote_entropy(sure), vote_entropy(unsure))


def test_vote_entropy_of_evenly_split_votes_is_log_of_the_labels_voted_for() -> None:
    members = np.array([[[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]], [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]]])
    # votes 0, 1, 2, 0: shares 1/2, 1/4, 1/4
    expected = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    np.testing.assert_allclose(vote_entropy(members), [expected])


def test_spread_is_the_population_std_of_the_ensemble_top_label() -> None:
    # case 0: std of 0.9, 0.6, 0.3 around 0.6 = sqrt((0.09 + 0 + 0.09) / 3) = sqrt(0.06)
    np.testing.assert_allclose(spread(MEMBERS), [math.sqrt(0.06), 0.0], atol=1e-12)


def test_spread_follows_the_mean_top_label_not_each_members_own() -> None:
    # The mean is (0.45, 0.55): label 1 wins, whose probabilities are 0.9 and 0.2 -> std 0.35.
    members = np.array([[[0.1, 0.9]], [[0.8, 0.2]]])
    np.testing.assert_allclose(spread(members), [0.35])


def test_one_member_has_no_spread_and_no_vote_entropy() -> None:
    one = MEMBERS[:1]
    np.testing.assert_allclose(spread(one), [0.0, 0.0])
    np.testing.assert_allclose(vote_entropy(one), [0.0, 0.0])


def test_measures_return_one_value_per_case_and_accept_no_cases() -> None:
    empty = np.zeros((0, 3))
    for measure in (least_confidence, margin, entropy):
        assert measure(P).shape == (3,)
        assert measure(empty).shape == (0,)
    for member_measure in (vote_entropy, spread):
        assert member_measure(MEMBERS).shape == (2,)
        assert member_measure(np.zeros((2, 0, 3))).shape == (0,)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (np.array([0.5, 0.5]), "shape (n, k)"),
        (np.array([[np.nan, 1.0]]), "NaN or infinite"),
        (np.array([[1.5, -0.5]]), "outside [0, 1]"),
    ],
)
def test_bad_probabilities_are_refused(value: np.ndarray, reason: str) -> None:
    for measure in (least_confidence, margin, entropy):
        with pytest.raises(InvalidInput) as caught:
            measure(value)
        assert caught.value.problems[0].location == "p"
        assert reason in caught.value.problems[0].reason


def test_margin_needs_two_labels() -> None:
    with pytest.raises(InvalidInput, match="at least 2 label"):
        margin([[1.0], [1.0]])


def test_member_measures_need_three_dimensions_and_a_member() -> None:
    for member_measure in (vote_entropy, spread):
        with pytest.raises(InvalidInput) as caught:
            member_measure(P)
        assert caught.value.problems[0].location == "members"
        with pytest.raises(InvalidInput, match="at least one member"):
            member_measure(np.zeros((0, 2, 2)))
