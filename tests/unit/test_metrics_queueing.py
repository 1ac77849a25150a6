"""Erlang B and C against their textbook definitions and closed forms, computed exactly where the formula allows.

References: Kleinrock, *Queueing Systems* vol. 1 (1975): M/M/1 (section 3.2: P(wait) = rho, mean wait
rho S / (1 - rho)), M/M/m and Erlang's C formula (section 3.5, eq. 3.40), M/m/m/m and Erlang's B formula (section 3.7,
eq. 3.46); Erlang B tables give 1.84% blocking for 10 lines offered 5 erlangs.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from signoff.metrics import queueing


def _exact_b(c: int, a: int) -> Fraction:
    terms = [Fraction(a**k, math.factorial(k)) for k in range(c + 1)]
    return terms[-1] / sum(terms)


def _exact_c(c: int, a: Fraction) -> Fraction:
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


@pytest.mark.parametrize(("c", "a"), [(1, 1), (5, 2), (10, 5), (20, 15), (40, 38)])
def test_erlang_b_is_its_definition(c: int, a: int) -> None:
    assert queueing.erlang_b(c, a) == pytest.approx(float(_exact_b(c, a)), rel=1e-12)


def test_erlang_b_matches_the_tables() -> None:
    assert queueing.erlang_b(10, 5.0) == pytest.approx(0.01838, abs=5e-5)


@pytest.mark.parametrize(("c", "a"), [(2, Fraction(1)), (5, Fraction(3)), (12, Fraction(21, 2)), (50, Fraction(45))])
def test_erlang_c_is_kleinrocks_eq_3_40(c: int, a: Fraction) -> None:
    assert queueing.erlang_c(c, float(a)) == pytest.approx(float(_exact_c(c, a)), rel=1e-12)


@pytest.mark.parametrize("rho", [0.1, 0.5, 0.9, 0.99])
def test_one_and_two_reviewers_have_closed_forms(rho: float) -> None:
    service = 300.0
    assert queueing.erlang_c(1, rho) == pytest.approx(rho)
    assert queueing.mean_wait(1, rho / service, service) == pytest.approx(rho * service / (1 - rho))
    assert queueing.erlang_c(2, 2 * rho) == pytest.approx(2 * rho**2 / (1 + rho))


def test_thousands_of_reviewers_neither_overflow_nor_lose_precision() -> None:
    c, a = 3000, 2950.0  # a**c / c! overflows a double by thousands of orders of magnitude
    logs = [k * math.log(a) - math.lgamma(k + 1) for k in range(c)]
    last = c * math.log(a) - math.lgamma(c + 1) + math.log(c / (c - a))
    top = max(*logs, last)
    expected = math.exp(last - top) / (sum(math.exp(x - top) for x in logs) + math.exp(last - top))
    assert queueing.erlang_c(c, a) == pytest.approx(expected, rel=1e-9)
    assert 0 < queueing.erlang_c(c, a) < 1


def test_an_unstable_queue_always_waits() -> None:
    assert queueing.erlang_c(4, 4.0) == 1.0
    assert queueing.mean_wait(4, 5 / 60, 60) == math.inf
    assert queueing.staffing(4, 5 / 60, 60, 3600).within_sla is None


@pytest.mark.parametrize(("c", "a"), [(3, 2.0), (8, 7.0), (8, 6.5), (30, 24.0)])
def test_time_to_decision_is_the_wait_plus_the_review(c: int, a: float) -> None:
    """P(T > t) as the mixture it is: no wait with probability 1 - C, else an exponential wait of rate theta."""
    service = 600.0
    mu, theta, waits = 1 / service, (c - a) / service, queueing.erlang_c(c, a)
    for t in (60.0, 600.0, 3600.0, 7200.0):
        beyond = (1 - waits) * math.exp(-mu * t) + waits * (
            (theta * math.exp(-mu * t) - mu * math.exp(-theta * t)) / (theta - mu)
            if abs(theta - mu) > 1e-15
            else math.exp(-mu * t) * (1 + mu * t)
        )
        assert queueing.decided_within(t, c, a / service, service) == pytest.approx(1 - beyond, abs=1e-12)


def test_the_fewest_reviewers_that_meet_the_target() -> None:
    rate, service, sla = 100 / 3600, 600.0, 7200.0  # 100 flagged an hour, 10-minute reviews, 2 hours
    found = queueing.reviewers_needed(rate, service, sla, 0.95)
    assert found.within_sla is not None and found.within_sla >= 0.95
    fewer = queueing.staffing(found.reviewers - 1, rate, service, sla)
    assert fewer.within_sla is None or fewer.within_sla < 0.95
    more = [queueing.reviewers_needed(rate * k, service, sla, 0.95).reviewers for k in (1, 2, 4, 8)]
    assert more == sorted(more)


def test_a_target_the_review_alone_misses_is_refused() -> None:
    with pytest.raises(ValueError, match=r"no number of reviewers meets 99\.0% within 600 s"):
        queueing.reviewers_needed(1 / 60, 600.0, 600.0, 0.99)
    with pytest.raises(ValueError, match="flag rate"):
        queueing.plan(1.0, [0.0], 60.0, 3600.0, 0.9)
