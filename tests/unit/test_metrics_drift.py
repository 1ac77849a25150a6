"""Population stability index and score drift on samples small enough to bin by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from signoff.errors import InvalidInput
from signoff.metrics.drift import (
    EPSILON,
    Stability,
    feature_drift,
    ks_distance,
    psi_categorical,
    psi_numeric,
    quantile_edges,
    score_drift,
)

REFERENCE = np.arange(1.0, 11.0)  # 1 .. 10


def test_quantile_edges_split_the_reference_evenly() -> None:
    assert quantile_edges(REFERENCE, bins=2).tolist() == [5.5]
    # 20% quantile at position 0.2 * 9 = 1.8: 2 + 0.8 = 2.8; then 4.6, 6.4, 8.2
    assert quantile_edges(REFERENCE, bins=5).tolist() == pytest.approx([2.8, 4.6, 6.4, 8.2])
    # ties merge edges: a feature that is 0 for 8 of 10 cases cannot fill 5 bins. The 20/40/60% quantiles are
    # all 0; the 80% one sits at position 0.8 * 9 = 7.2 of the sorted values: 0 + 0.2 * (1 - 0) = 0.2
    assert quantile_edges([0] * 8 + [1, 2], bins=5).tolist() == pytest.approx([0.0, 0.2])


def test_psi_numeric_by_hand() -> None:
    # two bins split at 5.5: reference 5/10 and 5/10; current 3/10 below, 7/10 above
    current = [1, 2, 3, 6, 7, 8, 9, 10, 11, 12]
    expected = (0.3 - 0.5) * math.log(0.3 / 0.5) + (0.7 - 0.5) * math.log(0.7 / 0.5)  # 0.1022 + 0.0673 = 0.1695
    assert psi_numeric(REFERENCE, current, bins=2) == Stability(pytest.approx(expected), 2, 10, 10)
    assert round(expected, 4) == 0.1695


def test_an_empty_bin_costs_a_finite_amount_through_epsilon() -> None:
    # every current value lands above 5.5: the lower bin's share 0 becomes EPSILON
    expected = (EPSILON - 0.5) * math.log(EPSILON / 0.5) + 0.5 * math.log(1 / 0.5)  # 4.2577 + 0.3466 = 4.6043
    result = psi_numeric(REFERENCE, [6.0] * 10, bins=2)
    assert result is not None
    assert result.psi == pytest.approx(expected)
    assert result.level == "significant"


def test_missing_values_form_their_own_bin() -> None:
    # current: 2 of 10 missing, 4 below and 4 above 5.5 -> shares 0.4, 0.4, 0.2 against 0.5, 0.5, 0 (EPSILON)
    current = [1, 2, 3, 4, 6, 7, 8, 9, math.nan, math.nan]
    expected = 2 * (0.4 - 0.5) * math.log(0.4 / 0.5) + (0.2 - EPSILON) * math.log(0.2 / EPSILON)
    assert psi_numeric(REFERENCE, current, bins=2) == Stability(pytest.approx(expected), 3, 10, 10)


def test_psi_of_a_sample_against_itself_is_zero_and_reads_stable() -> None:
    rng = np.random.default_rng(1)
    sample = rng.normal(size=1_000)
    result = psi_numeric(sample, sample)
    assert result is not None
    assert (result.psi, result.bins, result.level) == (0.0, 10, "stable")


def test_psi_levels_follow_the_conventional_cut_offs() -> None:
    assert [Stability(psi, 10, 1, 1).level for psi in (0.0, 0.099, 0.1, 0.25, 0.2501)] == [
        "stable",
        "stable",
        "moderate",
        "moderate",
        "significant",
    ]


def test_psi_categorical_by_hand_with_a_new_category() -> None:
    reference = ["a"] * 6 + ["b"] * 4
    current = ["a"] * 5 + ["b"] * 3 + ["c"] * 2
    # a: 0.6 -> 0.5, b: 0.4 -> 0.3, c: never seen (EPSILON) -> 0.2
    expected = (
        (0.5 - 0.6) * math.log(0.5 / 0.6)
        + (0.3 - 0.4) * math.log(0.3 / 0.4)
        + (0.2 - EPSILON) * math.log(0.2 / EPSILON)
    )
    assert psi_categorical(reference, current) == Stability(pytest.approx(expected), 3, 10, 10)


def test_empty_samples_are_none_and_infinities_are_refused() -> None:
    assert psi_numeric([], [1.0]) is None
    assert psi_categorical(["a"], []) is None
    assert score_drift([0.5], []) is None
    assert ks_distance([], [0.1]) is None
    with pytest.raises(InvalidInput):
        psi_numeric([1.0, math.inf], [1.0])
    with pytest.raises(InvalidInput):
        quantile_edges([1.0], bins=1)


def test_feature_drift_bins_numbers_and_counts_categories() -> None:
    reference = {"amount": REFERENCE, "country": ["fr"] * 5 + ["de"] * 5, "urgent": [True] * 5 + [False] * 5}
    current = {"amount": REFERENCE + 100, "country": ["fr"] * 5 + ["de"] * 5, "urgent": [True] * 5 + [False] * 5}
    drift = feature_drift(reference, current, bins=2)
    assert drift.keys() == {"amount", "country", "urgent"}
    amount, country, urgent = drift["amount"], drift["country"], drift["urgent"]
    assert amount is not None and country is not None and urgent is not None
    # every amount moved above the top edge: (EPSILON - 0.5) ln(EPSILON / 0.5) + 0.5 ln(2)
    assert amount.psi == pytest.approx((EPSILON - 0.5) * math.log(EPSILON / 0.5) + 0.5 * math.log(2))
    assert (country.psi, country.bins, urgent.psi, urgent.bins) == (0.0, 2, 0.0, 2)
    assert feature_drift({"a": [1.0]}, {"b": [1.0]}) == {}


def test_ks_distance_by_hand_and_against_scipy() -> None:
    # reference 1..10, current 6..15: at x = 5 the CDFs are 0.5 and 0 -> the largest gap is 0.5
    assert ks_distance(REFERENCE, REFERENCE + 5) == pytest.approx(0.5)
    rng = np.random.default_rng(2)
    for _ in range(5):
        a, b = rng.normal(size=200), rng.normal(0.3, 1.2, size=150)
        assert ks_distance(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic)


def test_score_drift_against_the_training_reference() -> None:
    rng = np.random.default_rng(9)
    training = rng.beta(5, 2, size=5_000)
    same = score_drift(training, rng.beta(5, 2, size=5_000))
    shifted = score_drift(training, rng.beta(3, 3, size=5_000))
    assert same is not None and shifted is not None
    assert same.stability.level == "stable" and same.ks < 0.05
    assert shifted.stability.level == "significant" and shifted.ks > 0.2
    assert shifted.mean_current == pytest.approx(0.5, abs=0.02)
    assert shifted.mean_reference == pytest.approx(5 / 7, abs=0.02)
    assert (shifted.stability.n_reference, shifted.stability.n_current) == (5_000, 5_000)
