"""Only a finite probability distribution may decide a case; every other row is named with its fault."""

from __future__ import annotations

import numpy as np
import pytest

from signoff.models.outputs import distribution_problems


def test_valid_rows_have_no_problem() -> None:
    rows = np.array([[0.5, 0.5], [1.0, 0.0], [0.25, 0.75]])
    assert distribution_problems(rows) == [None, None, None]


def test_three_class_rows_are_checked_too() -> None:
    assert distribution_problems(np.array([[0.2, 0.3, 0.5], [0.2, 0.3, 0.6]])) == [
        None,
        "probabilities sum to 1.1, not 1",
    ]


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ([np.nan, 1.0], "a probability is NaN or infinite"),
        ([np.inf, 0.0], "a probability is NaN or infinite"),
        ([-np.inf, 1.0], "a probability is NaN or infinite"),
        ([-0.2, 1.2], "a probability is negative (-0.2)"),
        ([1.5, 0.0], "a probability is above 1 (1.5)"),
        ([0.7, 0.7], "probabilities sum to 1.4, not 1"),
        ([0.1, 0.1], "probabilities sum to 0.2, not 1"),
    ],
)
def test_each_fault_is_named(row: list[float], problem: str) -> None:
    assert distribution_problems(np.array([row])) == [problem]


def test_a_bad_row_does_not_affect_its_neighbours() -> None:
    rows = np.array([[0.9, 0.1], [np.nan, 0.5], [0.4, 0.6], [0.7, 0.7]])
    assert distribution_problems(rows) == [
        None,
        "a probability is NaN or infinite",
        None,
        "probabilities sum to 1.4, not 1",
    ]


def test_deviations_within_the_tolerance_of_1e_6_are_accepted() -> None:
    rows = np.array([[0.5, 0.5 + 5e-7], [0.5, 0.5 - 5e-7], [-5e-7, 1 + 5e-7]])
    assert distribution_problems(rows) == [None, None, None]


def test_deviations_beyond_the_tolerance_are_refused() -> None:
    problems = distribution_problems(np.array([[0.5, 0.5 + 2e-6], [-2e-6, 1.0]]))
    assert problems[0] is not None
    assert problems[0].startswith("probabilities sum to ")
    assert problems[1] == "a probability is negative (-2e-06)"


def test_no_rows_give_no_problems() -> None:
    assert distribution_problems(np.zeros((0, 2))) == []


def test_a_sum_just_beyond_the_tolerance_is_shown_with_its_deviation() -> None:
    assert distribution_problems(np.array([[0.5, 0.500002]])) == ["probabilities sum to 1.000002, not 1"]


def test_a_probability_just_above_one_is_shown_with_its_excess() -> None:
    assert distribution_problems(np.array([[1.000002, 0.0]])) == ["a probability is above 1 (1.000002)"]
