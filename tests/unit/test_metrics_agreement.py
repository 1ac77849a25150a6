"""Agreement coefficients: by hand, against scikit-learn, and against the published worked examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from signoff.errors import InvalidInput
from signoff.metrics.agreement import cohen_kappa, fleiss_kappa, krippendorff_alpha

# --- Cohen's kappa ------------------------------------------------------------------------------------------


def test_cohen_kappa_by_hand() -> None:
    # 50 items: both yes 20, first yes / second no 5, first no / second yes 10, both no 15.
    # p_o = 35/50 = 0.7; first says yes 25/50, second 30/50: p_e = 0.5*0.6 + 0.5*0.4 = 0.5; kappa = 0.2/0.5 = 0.4
    first = ["yes"] * 25 + ["no"] * 25
    second = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(first, second) == pytest.approx(0.4)


def test_cohen_kappa_matches_scikit_learn_on_random_labels() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        truth = rng.integers(0, 4, size=60)
        first = np.where(rng.random(60) < 0.7, truth, rng.integers(0, 4, size=60))
        second = np.where(rng.random(60) < 0.6, truth, rng.integers(0, 4, size=60))
        assert cohen_kappa(list(first), list(second)) == pytest.approx(cohen_kappa_score(first, second))


def test_cohen_kappa_perfect_and_systematic_disagreement() -> None:
    assert cohen_kappa(["a", "b", "a"], ["a", "b", "a"]) == pytest.approx(1.0)
    # always opposite on two balanced labels: p_o = 0, p_e = 0.5, kappa = -1
    assert cohen_kappa(["a", "b", "a", "b"], ["b", "a", "b", "a"]) == pytest.approx(-1.0)


def test_cohen_kappa_degenerate_inputs_are_none() -> None:
    assert cohen_kappa(["a", "a", "a"], ["a", "a", "a"]) is None  # one label throughout: p_e = 1
    assert cohen_kappa(["a"], ["b"]) is None
    assert cohen_kappa([], []) is None
    with pytest.raises(InvalidInput):
        cohen_kappa(["a", "b"], ["a"])


# --- Fleiss' kappa ------------------------------------------------------------------------------------------

# Fleiss (1971), Table 1: 30 patients, 6 psychiatrists each. Columns: depression, personality disorder,
# schizophrenia, neurosis, other.
FLEISS_1971 = [
    [0, 0, 0, 6, 0], [0, 3, 0, 0, 3], [0, 1, 4, 0, 1], [0, 0, 0, 0, 6], [0, 3, 0, 3, 0],
    [2, 0, 4, 0, 0], [0, 0, 4, 0, 2], [2, 0, 3, 1, 0], [2, 0, 0, 4, 0], [0, 0, 0, 0, 6],
    [1, 0, 0, 5, 0], [1, 1, 0, 4, 0], [0, 3, 3, 0, 0], [1, 0, 0, 5, 0], [0, 2, 0, 3, 1],
    [0, 0, 5, 0, 1], [3, 0, 0, 1, 2], [5, 1, 0, 0, 0], [0, 2, 0, 4, 0], [1, 0, 2, 0, 3],
    [0, 0, 0, 0, 6], [0, 1, 0, 5, 0], [0, 2, 0, 1, 3], [2, 0, 0, 4, 0], [1, 0, 0, 4, 1],
    [0, 5, 0, 1, 0], [4, 0, 0, 0, 2], [0, 2, 0, 4, 0], [1, 0, 5, 0, 0], [0, 0, 0, 0, 6],
]  # fmt: skip


def test_fleiss_kappa_reproduces_fleiss_1971() -> None:
    # published: P = .556, P_e = .220, kappa = .430
    table = np.asarray(FLEISS_1971)
    shares = table.sum(axis=0) / 180  # .144 .144 .167 .306 .239 in the paper
    assert np.round(shares, 3).tolist() == [0.144, 0.144, 0.167, 0.306, 0.239]
    assert round(float((shares**2).sum()), 3) == 0.220
    kappa = fleiss_kappa(FLEISS_1971)
    assert kappa is not None
    assert round(kappa, 3) == 0.430


def test_fleiss_kappa_by_hand() -> None:
    # 3 items, 2 raters, 2 categories: [2,0], [0,2], [1,1]
    # P_i = 1, 1, 0 -> P = 2/3; shares 3/6, 3/6 -> P_e = 0.5; kappa = (2/3 - 1/2) / (1/2) = 1/3
    assert fleiss_kappa([[2, 0], [0, 2], [1, 1]]) == pytest.approx(1 / 3)


def test_fleiss_kappa_with_two_raters_is_scotts_pi() -> None:
    # with m = 2, Fleiss' kappa is Scott's pi: p_o = 2/3, pooled shares (3/6, 3/6) -> the same 1/3 as above
    first, second = ["a", "b", "a"], ["a", "b", "b"]
    counts = [[(f == c) + (s == c) for c in "ab"] for f, s in zip(first, second, strict=True)]
    assert counts == [[2, 0], [0, 2], [1, 1]]
    assert fleiss_kappa(counts) == pytest.approx(1 / 3)


def test_fleiss_kappa_degenerate_and_invalid_inputs() -> None:
    assert fleiss_kappa([[3, 0], [3, 0], [3, 0]]) is None  # one category throughout
    assert fleiss_kappa([[2, 1]]) is None  # one item
    assert fleiss_kappa([[1, 0], [0, 1]]) is None  # one rater per item cannot agree
    assert fleiss_kappa(np.zeros((0, 3))) is None
    with pytest.raises(InvalidInput):
        fleiss_kappa([[2, 1], [1, 1]])  # 3 ratings, then 2
    with pytest.raises(InvalidInput):
        fleiss_kappa([[2, -1], [1, 0]])
    with pytest.raises(InvalidInput):
        fleiss_kappa([[1.5, 0.5], [1, 1]])


# --- Krippendorff's alpha -----------------------------------------------------------------------------------

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", section C: 4 observers, 12 units, gaps.
OBSERVERS = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
}


def test_krippendorff_alpha_reproduces_the_published_example_with_missing_values() -> None:
    # published nominal alpha = .743; unit 12 has a single value and is not pairable (n = 40 values)
    units = list(zip(*OBSERVERS.values(), strict=True))
    alpha = krippendorff_alpha(units)
    assert alpha is not None
    assert round(alpha, 3) == 0.743
    # by hand from the paper's coincidence matrix: diagonal o_cc = 7, 10, 8, 4, 3 (sum 32 of n = 40),
    # margins n_c = 9, 13, 10, 5, 3: alpha = ((n-1) * 32 - sum n_c(n_c-1)) / (n(n-1) - sum n_c(n_c-1))
    same = 9 * 8 + 13 * 12 + 10 * 9 + 5 * 4 + 3 * 2  # 344
    assert alpha == pytest.approx((39 * 32 - same) / (40 * 39 - same))  # 904 / 1216


def test_krippendorff_alpha_binary_example_by_hand() -> None:
    # Krippendorff (2011), section A: two observers, 10 units, binary. Coincidences o_00 = 10, o_01 = o_10 = 4,
    # o_11 = 2; n_0 = 14, n_1 = 6, n = 20: alpha = 1 - (n - 1) o_01 / (n_0 n_1) = 1 - 19*4/84 = 0.095
    first = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    second = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    alpha = krippendorff_alpha(list(zip(first, second, strict=True)))
    assert alpha == pytest.approx(1 - 19 * 4 / 84)
    assert alpha is not None and round(alpha, 3) == 0.095


def test_krippendorff_alpha_accepts_ragged_units_and_nan_as_missing() -> None:
    table = list(zip(*OBSERVERS.values(), strict=True))
    ragged = [[v for v in unit if v is not None] for unit in table]
    with_nan = [[math.nan if v is None else float(v) for v in unit] for unit in table]
    assert krippendorff_alpha(ragged) == pytest.approx(krippendorff_alpha(table))
    assert krippendorff_alpha(with_nan) == pytest.approx(krippendorff_alpha(table))


def test_krippendorff_alpha_is_close_to_cohen_for_two_complete_raters_on_many_items() -> None:
    # alpha corrects for small samples ((n-1)/n) and pools the two raters' distributions like Scott's pi;
    # with equal marginals and many items it approaches kappa
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 3, size=4_000)
    first = np.where(rng.random(4_000) < 0.8, truth, rng.integers(0, 3, size=4_000))
    second = np.where(rng.random(4_000) < 0.8, truth, rng.integers(0, 3, size=4_000))
    alpha = krippendorff_alpha(list(zip(first.tolist(), second.tolist(), strict=True)))
    assert alpha == pytest.approx(cohen_kappa_score(first, second), abs=0.01)


def test_krippendorff_alpha_degenerate_inputs_are_none() -> None:
    assert krippendorff_alpha([["a", "a"], ["a", "a", "a"]]) is None  # one value throughout
    assert krippendorff_alpha([["a", "b"]]) is None  # one item
    assert krippendorff_alpha([["a"], ["b", None], [None, None]]) is None  # nothing pairable
    assert krippendorff_alpha([]) is None
