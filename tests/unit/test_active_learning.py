"""Active learning's draw: margins, inclusion probabilities that sum to the sample size, and unbiased estimates."""

from __future__ import annotations

import numpy as np
import pytest

from signoff.learning import active


def test_the_margin_is_the_gap_between_the_two_most_likely_labels() -> None:
    assert active.margins([[0.5, 0.5], [0.9, 0.1]]) == pytest.approx([0.0, 0.8])
    assert active.margins([[0.2, 0.3, 0.5], [0.1, 0.8, 0.1]]) == pytest.approx([0.2, 0.7])


@pytest.mark.parametrize("bad", [[0.3, 0.7], [[1.0]], [[0.5, float("nan")]], [[0.5, 0.5], [0.2, 0.3, 0.5]]])
def test_margins_refuse_what_is_not_a_probability_table(bad: list[object]) -> None:
    with pytest.raises(ValueError, match="probabilities must be"):
        active.margins(bad)  # type: ignore[arg-type]


POOL = np.random.default_rng(7).beta(0.6, 0.6, size=300)  # margins of a pool, many near 0 and near 1


@pytest.mark.parametrize("strategy", active.STRATEGIES)
@pytest.mark.parametrize("size", [1, 10, 150, 299, 300])
def test_probabilities_sum_to_the_sample_size_and_every_case_keeps_a_chance(
    strategy: active.Strategy, size: int
) -> None:
    p = active.inclusion_probabilities(POOL, size, strategy=strategy)
    assert p.sum() == pytest.approx(size)
    assert (p > 0).all() and (p <= 1).all()


def test_margin_prefers_small_margins_and_random_does_not() -> None:
    p = active.inclusion_probabilities(POOL, 10, strategy="margin", epsilon=0.1, temperature=0.1)
    order = np.argsort(POOL)
    assert np.all(np.diff(p[order]) <= 1e-12)  # a smaller margin never has a smaller chance
    assert p[order[0]] > 20 * p[order[-1]]
    assert p.min() >= 0.1 * 10 / len(POOL) - 1e-12  # the uniform floor: epsilon * size / n
    assert active.inclusion_probabilities(POOL, 10, strategy="random") == pytest.approx(np.full(300, 10 / 300))


def test_a_large_sample_makes_the_least_sure_cases_certain() -> None:
    p = active.inclusion_probabilities(POOL, 100, temperature=0.01)
    assert (p == 1.0).sum() > 10
    assert p.sum() == pytest.approx(100)


def test_a_draw_returns_distinct_cases_with_their_probability_and_margin() -> None:
    drawn = active.select(POOL, 25, np.random.default_rng(1))
    p = active.inclusion_probabilities(POOL, 25)
    assert len(set(drawn.indices.tolist())) == 25
    assert drawn.probabilities == pytest.approx(p[drawn.indices])
    assert drawn.margins == pytest.approx(POOL[drawn.indices])
    assert len(active.select(POOL, 0, np.random.default_rng(1)).indices) == 0


@pytest.mark.parametrize(
    ("size", "options", "message"),
    [
        (301, {}, "cannot draw 301 cases from a pool of 300"),
        (-1, {}, "cannot draw -1"),
        (1, {"strategy": "entropy"}, "strategy must be one of"),
        (1, {"epsilon": 0.0}, "epsilon must be in"),
        (1, {"temperature": 0.0}, "temperature > 0"),
    ],
)
def test_bad_draws_are_refused(size: int, options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        active.select(POOL, size, np.random.default_rng(0), **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [1, 12])
def test_each_case_is_drawn_as_often_as_its_probability_says(size: int) -> None:
    rng = np.random.default_rng(3)
    pool = POOL[:40]
    p = active.inclusion_probabilities(pool, size)
    runs = 20_000
    counts = np.zeros(len(pool))
    for _ in range(runs):
        counts[active.select(pool, size, rng).indices] += 1
    standard_error = np.sqrt(p * (1 - p) / runs) + 1e-9
    assert np.abs(counts / runs - p).max() / standard_error.max() < 5


def test_the_horvitz_thompson_mean_over_the_pool_is_unbiased() -> None:
    """Labels correlated with the margin (hard cases are more often wrong): the plain mean of the drawn cases is
    biased, the inverse-probability-weighted one is not."""
    rng = np.random.default_rng(11)
    pool = POOL
    wrong = (rng.random(len(pool)) < 0.5 * (1 - pool)).astype(float)  # 1: the model was wrong on the case
    truth = wrong.mean()
    estimates, naive = [], []
    for _ in range(4000):
        drawn = active.select(pool, 15, rng)
        estimates.append(float((wrong[drawn.indices] / drawn.probabilities).sum() / len(pool)))
        naive.append(float(wrong[drawn.indices].mean()))
    mean, error = np.mean(estimates), np.std(estimates) / np.sqrt(len(estimates))
    assert abs(mean - truth) < 4 * error
    assert np.mean(naive) - truth > 10 * error  # without the weights, hard cases would inflate the error rate
