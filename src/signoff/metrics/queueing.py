"""How many reviewers a review queue needs: the M/M/c queue and Erlang's C formula.

Cases arrive at random (a Poisson process of ``arrival_rate`` per second), each review takes an exponentially
distributed time of mean ``service_time`` seconds, and ``reviewers`` work one queue first come, first served. The
offered load ``a = arrival_rate * service_time`` is in erlangs (reviewers kept busy on average); the queue is stable
only while ``a < reviewers``.

Erlang C, the probability that a case waits at all, is computed from Erlang B by its recursion
``B(0) = 1, B(k) = a B(k-1) / (k + a B(k-1))`` and ``C = c B / (c - a (1 - B))``: every step stays in [0, 1], so no
factorial or power of ``a`` overflows, at 2,000 reviewers as at 2 (Kleinrock, *Queueing Systems* vol. 1, 1975,
section 3.5, eq. 3.40 for Erlang C; Cooper, *Introduction to Queueing Theory*, 2nd ed. 1981, section 3.4, for the
recursion). A waiting case waits an exponential time of rate ``c/S - arrival_rate``; the time to a decision is that
wait plus its own review (Gross, Shortle, Thompson and Harris, *Fundamentals of Queueing Theory*, 4th ed. 2008,
section 2.3, eq. 2.38). Pure: numbers in, numbers out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MAX_REVIEWERS = 100_000  # a staffing search stops here: beyond it the question is not one of reviewers


@dataclass(frozen=True)
class Staffing:
    """One staffing level of a queue and what Erlang C predicts for it. Times in seconds; ``within_sla`` is the
    share of cases decided (waited and reviewed) within the SLA, ``None`` where the queue is unstable."""

    reviewers: int
    arrival_rate: float
    service_time: float
    load: float
    utilisation: float
    wait_probability: float
    mean_wait: float
    within_sla: float | None


def _check(reviewers: int, load: float) -> None:
    if reviewers < 1:
        raise ValueError(f"reviewers must be at least 1, not {reviewers}")
    if not (load >= 0 and math.isfinite(load)):
        raise ValueError(f"the offered load must be a finite number >= 0, not {load}")


def erlang_b(reviewers: int, load: float) -> float:
    """The probability that all ``reviewers`` are busy when nobody may wait (Erlang B), by its stable recursion."""
    _check(reviewers, load)
    blocked = 1.0
    for k in range(1, reviewers + 1):
        blocked = load * blocked / (k + load * blocked)
    return blocked


def erlang_c(reviewers: int, load: float) -> float:
    """The probability that a case waits for a reviewer (Erlang C); 1 when the queue is unstable (load >= c)."""
    _check(reviewers, load)
    if load >= reviewers:
        return 1.0
    blocked = erlang_b(reviewers, load)
    return reviewers * blocked / (reviewers - load * (1 - blocked))


def _rates(reviewers: int, arrival_rate: float, service_time: float) -> tuple[float, float]:
    if not (service_time > 0 and math.isfinite(service_time)):
        raise ValueError(f"the service time must be a finite number of seconds > 0, not {service_time}")
    if not (arrival_rate >= 0 and math.isfinite(arrival_rate)):
        raise ValueError(f"the arrival rate must be a finite number >= 0, not {arrival_rate}")
    load = arrival_rate * service_time
    return load, erlang_c(reviewers, load)


def mean_wait(reviewers: int, arrival_rate: float, service_time: float) -> float:
    """The mean time a case waits before its review starts (inf when unstable)."""
    load, waits = _rates(reviewers, arrival_rate, service_time)
    if load >= reviewers:
        return math.inf
    return waits * service_time / (reviewers - load)


def wait_within(seconds: float, reviewers: int, arrival_rate: float, service_time: float) -> float:
    """The share of cases whose review starts within ``seconds`` of their arrival."""
    load, waits = _rates(reviewers, arrival_rate, service_time)
    if load >= reviewers:
        return 0.0
    return 1 - waits * math.exp(-(reviewers - load) * seconds / service_time)


def decided_within(seconds: float, reviewers: int, arrival_rate: float, service_time: float) -> float:
    """The share of cases decided (waited and reviewed) within ``seconds`` of their arrival: M/M/c's sojourn time,
    ``P(T > t) = e^(-t/S) (1 + C (1 - e^(-(c-1-a) t/S)) / (c-1-a))``, whose limit at ``c - 1 = a`` is
    ``e^(-t/S) (1 + C t/S)``."""
    load, waits = _rates(reviewers, arrival_rate, service_time)
    if load >= reviewers:
        return 0.0
    x, gap = seconds / service_time, reviewers - 1 - load
    spread = x if abs(gap) < 1e-9 else -math.expm1(-gap * x) / gap  # (1 - e^(-gap x)) / gap, stable near 0
    return max(0.0, 1 - math.exp(-x) * (1 + waits * spread))


def staffing(reviewers: int, arrival_rate: float, service_time: float, sla: float) -> Staffing:
    """What Erlang C predicts for ``reviewers`` on a queue of ``arrival_rate`` cases per second."""
    load, waits = _rates(reviewers, arrival_rate, service_time)
    stable = load < reviewers
    return Staffing(
        reviewers=reviewers,
        arrival_rate=arrival_rate,
        service_time=service_time,
        load=load,
        utilisation=load / reviewers,
        wait_probability=waits,
        mean_wait=mean_wait(reviewers, arrival_rate, service_time),
        within_sla=decided_within(sla, reviewers, arrival_rate, service_time) if stable else None,
    )


def reviewers_needed(arrival_rate: float, service_time: float, sla: float, target: float) -> Staffing:
    """The fewest reviewers whose queue decides at least ``target`` of its cases within ``sla`` seconds.

    A target no number of reviewers can meet (the review alone takes longer than the SLA too often) is refused:
    more reviewers shorten the wait, never the review."""
    if not 0 < target < 1:
        raise ValueError(f"the target must be a share between 0 and 1 (exclusive), not {target}")
    if not (sla > 0 and math.isfinite(sla)):
        raise ValueError(f"the SLA must be a finite number of seconds > 0, not {sla}")
    load, _ = _rates(1, arrival_rate, service_time)
    if 1 - math.exp(-sla / service_time) < target:
        raise ValueError(
            f"no number of reviewers meets {target:.1%} within {sla:g} s: with a mean review of {service_time:g} s "
            f"only {1 - math.exp(-sla / service_time):.1%} of reviews end within the SLA even without waiting"
        )
    reviewers = max(1, math.floor(load) + 1)
    while reviewers <= MAX_REVIEWERS:
        found = staffing(reviewers, arrival_rate, service_time, sla)
        if found.within_sla is not None and found.within_sla >= target:
            return found
        reviewers += 1
    raise ValueError(f"more than {MAX_REVIEWERS:,} reviewers would be needed")


def plan(
    arrivals: float, flag_rates: Sequence[float], service_time: float, sla: float, target: float
) -> list[Staffing]:
    """Reviewers needed at each flag rate, when ``arrivals`` cases per second reach the flow and the share
    ``flag_rate`` of them goes to review."""
    for rate in flag_rates:
        if not 0 < rate <= 1:
            raise ValueError(f"a flag rate must be a share in (0, 1], not {rate}")
    return [reviewers_needed(arrivals * rate, service_time, sla, target) for rate in flag_rates]
