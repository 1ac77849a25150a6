"""Accuracy estimates: small cases by hand, published intervals, and the audit estimator's coverage by simulation.

The simulations build one fixed population of auto-decided cases (the truth is its accuracy, a known number) and
draw many audit samples from it the way the routing engine does: one independent Bernoulli draw per case, with
a rate that depends on the case's segment. An interval procedure is sound when its 95% intervals contain the
truth in about 95% of the samples; the acceptance line is at least 93%.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from scipy import stats

from signoff.errors import InvalidInput
from signoff.metrics.estimates import Estimate, accuracy_gain, audit_accuracy, wilson_interval

Z = NormalDist().inv_cdf(0.975)  # 1.959964...


def _wilson(p: float, n: float) -> tuple[float, float]:
    """Wilson (1927), written out: (p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)."""
    centre = p + Z**2 / (2 * n)
    half = Z * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    return (centre - half) / (1 + Z**2 / n), (centre + half) / (1 + Z**2 / n)


# --- Wilson -------------------------------------------------------------------------------------------------


def test_wilson_reproduces_newcombes_published_interval_for_81_of_263() -> None:
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Stat Med 17, example: 0.2553-0.3662
    estimate = wilson_interval(81, 263)
    assert estimate is not None
    assert (estimate.value, estimate.n, estimate.effective_n) == (81 / 263, 263, 263.0)
    assert (round(estimate.low, 4), round(estimate.high, 4)) == (0.2553, 0.3662)
    assert (estimate.low, estimate.high) == pytest.approx(_wilson(81 / 263, 263), abs=1e-12)
    scipy_interval = stats.binomtest(81, 263).proportion_ci(0.95, method="wilson")
    assert (estimate.low, estimate.high) == pytest.approx((scipy_interval.low, scipy_interval.high), abs=1e-12)


def test_wilson_with_no_success_keeps_an_upper_bound() -> None:
    # p = 0: the bounds are 0 and z² / (n + z²) = 3.8415 / 13.8415 = 0.2775 for n = 10
    estimate = wilson_interval(0, 10)
    assert estimate is not None
    assert estimate.low == 0.0
    assert estimate.high == pytest.approx(Z**2 / (10 + Z**2))
    assert round(estimate.high, 4) == 0.2775


def test_wilson_with_every_success_keeps_a_lower_bound_and_the_level_is_used() -> None:
    # p = 1, n = 20, 90%: z = 1.6449, lower = n / (n + z²) = 20 / 22.7055 = 0.8808
    estimate = wilson_interval(20, 20, confidence=0.90)
    assert estimate is not None
    z = NormalDist().inv_cdf(0.95)
    assert (estimate.low, estimate.high, estimate.confidence) == (pytest.approx(20 / (20 + z**2)), 1.0, 0.90)


def test_wilson_without_trials_is_none_and_impossible_counts_are_refused() -> None:
    assert wilson_interval(0, 0) is None
    with pytest.raises(InvalidInput):
        wilson_interval(5, 4)
    with pytest.raises(InvalidInput):
        wilson_interval(-1, 4)
    with pytest.raises(InvalidInput):
        wilson_interval(1, 4, confidence=1.0)


# --- the audit estimator on small cases ---------------------------------------------------------------------


def test_hajek_estimate_and_its_effective_size_by_hand() -> None:
    # weights 1/pi = 2, 2, 10, 10; N = 24; correct total = 2 + 2 + 10 = 14; R = 14/24 = 0.58333
    correct = [True, True, False, True]
    inclusion = [0.5, 0.5, 0.1, 0.1]
    r = 14 / 24
    # V = sum (1 - pi) w² (y - R)² / N²
    #   = [0.5*4*(1-R)² * 2 + 0.9*100*R² + 0.9*100*(1-R)²] / 576 = (0.69444 + 30.625 + 15.625) / 576 = 0.081501
    variance = (0.5 * 4 * (1 - r) ** 2 * 2 + 0.9 * 100 * r**2 + 0.9 * 100 * (1 - r) ** 2) / 24**2
    linearised = r * (1 - r) / variance  # 0.243056 / 0.081501 = 2.98225
    kish = 24**2 / (0.5 * 4 * 2 + 0.9 * 100 * 2)  # 576 / 184 = 3.1304
    estimate = audit_accuracy(correct, inclusion)
    assert estimate is not None
    assert estimate.value == pytest.approx(r)
    assert estimate.n == 4
    assert estimate.effective_n == pytest.approx(min(linearised, kish))
    assert round(estimate.effective_n, 4) == 2.9822
    assert (estimate.low, estimate.high) == pytest.approx(_wilson(r, linearised))
    assert estimate.method == "hajek-wilson"


def test_equal_inclusion_is_wilson_with_the_finite_population_factor() -> None:
    # 18 of 20 correct, all drawn at pi = 0.5: both effective sizes are n / (1 - pi) = 40
    estimate = audit_accuracy([True] * 18 + [False] * 2, [0.5] * 20)
    assert estimate is not None
    assert (estimate.value, estimate.effective_n) == (pytest.approx(0.9), pytest.approx(40.0))
    assert (estimate.low, estimate.high) == pytest.approx(_wilson(0.9, 40))
    # at a small audit rate it is all but the plain Wilson interval of the sample: 18 of 20
    small = audit_accuracy([True] * 18 + [False] * 2, [0.001] * 20)
    plain = wilson_interval(18, 20)
    assert small is not None and plain is not None
    assert (small.low, small.high) == pytest.approx((plain.low, plain.high), abs=1e-3)


def test_a_sample_without_errors_uses_kishs_size() -> None:
    # no error: V = 0; weights 1, 1, 4 with pi 1, 1, 0.25: Kish = 6² / (0.75 * 16) = 36 / 12 = 3
    estimate = audit_accuracy([1, 1, 1], [1.0, 1.0, 0.25])
    assert estimate is not None
    assert (estimate.value, estimate.effective_n, estimate.high) == (1.0, pytest.approx(3.0), 1.0)
    assert estimate.low == pytest.approx(3 / (3 + Z**2))  # Wilson at p = 1: n / (n + z²) = 0.4395


def test_a_census_is_exact() -> None:
    estimate = audit_accuracy([True, False, True, True], [1.0] * 4)
    assert estimate == Estimate(0.75, 0.75, 0.75, 4, 4.0, 0.95, "hajek-wilson")


def test_nothing_audited_is_none_and_bad_probabilities_are_refused() -> None:
    assert audit_accuracy([], []) is None
    for inclusion in ([0.0], [1.5], [math.nan]):
        with pytest.raises(InvalidInput):
            audit_accuracy([True], inclusion)
    with pytest.raises(InvalidInput):
        audit_accuracy([True, False], [0.5])
    with pytest.raises(InvalidInput):
        audit_accuracy([2], [0.5])


# --- the accuracy gain --------------------------------------------------------------------------------------


def test_gain_reproduces_newcombes_published_interval() -> None:
    # Newcombe (1998), Stat Med 17, 873-890, example (a): 56/70 - 48/80 = 0.2, method 10: 0.0524 to 0.3339
    human, model = wilson_interval(56, 70), wilson_interval(48, 80)
    assert human is not None and model is not None
    gain = accuracy_gain(human, model)
    assert gain.value == pytest.approx(0.2)
    assert (round(gain.low, 4), round(gain.high, 4)) == (0.0524, 0.3339)
    # square and add, by hand: low = d - sqrt((h - h_low)² + (m_high - m)²)
    assert gain.low == pytest.approx(0.2 - math.hypot(0.8 - human.low, model.high - 0.6))
    assert (gain.human.n, gain.model.n) == (70, 80)


def test_gain_needs_one_confidence_level() -> None:
    human, model = wilson_interval(9, 10), wilson_interval(8, 10, confidence=0.9)
    assert human is not None and model is not None
    with pytest.raises(InvalidInput):
        accuracy_gain(human, model)


# --- coverage by simulation ---------------------------------------------------------------------------------


def _population(
    rng: np.random.Generator, sizes: tuple[int, ...], accuracy: tuple[float, ...], rates: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Auto-decided cases by segment: whether the model was right, and each case's audit probability."""
    correct = np.concatenate([rng.random(size) < acc for size, acc in zip(sizes, accuracy, strict=True)])
    inclusion = np.repeat(np.asarray(rates), sizes)
    return correct, inclusion


def _coverage(rng: np.random.Generator, correct: np.ndarray, inclusion: np.ndarray, samples: int) -> float:
    truth = correct.mean()
    hits = 0
    for _ in range(samples):
        drawn = rng.random(inclusion.size) < inclusion  # one Bernoulli draw per case, as the routing engine does
        estimate = audit_accuracy(correct[drawn], inclusion[drawn])
        assert estimate is not None
        hits += estimate.low <= truth <= estimate.high
    return hits / samples


def test_audit_intervals_cover_the_true_accuracy_with_unequal_inclusion() -> None:
    # 50,000 auto-decided cases in three segments: the confident bulk audited at 1%, the rest more heavily.
    # Expected audit size: 350 + 375 + 375 = 1,100 cases a window.
    rng = np.random.default_rng(20260601)
    correct, inclusion = _population(rng, (35_000, 12_500, 2_500), (0.99, 0.95, 0.85), (0.01, 0.03, 0.15))
    coverage = _coverage(rng, correct, inclusion, 2_000)
    assert coverage >= 0.93, coverage  # measured: 0.994


def test_audit_intervals_cover_when_the_heavy_segment_rarely_shows_an_error() -> None:
    # The hard case: 20,000 cases audited at 0.2% (weight 500, about 40 drawn, about 1.2 errors expected) beside
    # 2,000 audited at 10%. A linearised (Taylor) size alone covered 65% here; Kish's bound restores coverage.
    rng = np.random.default_rng(7)
    correct, inclusion = _population(rng, (20_000, 2_000), (0.97, 0.99), (0.002, 0.1))
    coverage = _coverage(rng, correct, inclusion, 2_000)
    assert coverage >= 0.93, coverage  # measured: 0.954


def test_agreement_on_flagged_cases_would_have_been_badly_wrong_on_the_same_data() -> None:
    # One population of 50,000 scored cases; the model's confidence is calibrated (P(correct) = confidence).
    # Cases under 0.8 are flagged for review; the others are decided by the model and audited at 1% (above
    # 0.95) or 5% (0.8 to 0.95).
    rng = np.random.default_rng(11)
    confidence = rng.beta(8, 1.2, size=50_000)
    correct = rng.random(confidence.size) < confidence
    flagged = confidence < 0.8
    auto = ~flagged
    inclusion = np.where(confidence >= 0.95, 0.01, 0.05)[auto]
    truth = correct[auto].mean()  # the model's real accuracy on the cases it decides alone (0.916)

    # the biased alternative: how often reviewers agreed with the model on the cases they saw
    agreed = int(correct[flagged].sum())
    on_flagged = wilson_interval(agreed, int(flagged.sum()))
    assert on_flagged is not None
    assert truth - on_flagged.value > 0.15  # 0.699 against 0.916
    assert not on_flagged.low <= truth <= on_flagged.high

    # an unweighted mean of the audit is biased too: the heavily audited 0.8-0.95 band is over-represented
    misses_unweighted = hits_weighted = 0
    for _ in range(500):
        drawn = rng.random(inclusion.size) < inclusion
        sample = correct[auto][drawn]
        plain = wilson_interval(int(sample.sum()), int(sample.size))
        weighted = audit_accuracy(sample, inclusion[drawn])
        assert plain is not None and weighted is not None
        misses_unweighted += not plain.low <= truth <= plain.high
        hits_weighted += weighted.low <= truth <= weighted.high
    assert misses_unweighted / 500 > 0.5  # measured: 0.82 of the unweighted intervals miss the truth
    assert hits_weighted / 500 >= 0.93  # measured: 0.98
