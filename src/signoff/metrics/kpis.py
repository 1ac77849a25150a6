"""The seed's operating KPIs for one flow and time window: flag rate, turnaround, SLA compliance, cost.

Each function takes the raw counts or timestamps of the window and returns None (never NaN or infinity) when
the window holds nothing to measure, so an empty hour shows as "no data" rather than as a number.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from signoff.errors import InvalidInput, Problem

Floats = npt.NDArray[np.float64]
Times = Sequence[datetime | None] | npt.NDArray[np.datetime64]


def flag_rate(n_flagged: int, n_total: int) -> float | None:
    """``N_flagged / N_total``: the share of cases sent to human review (the seed's section 4).

    A flag rate that moves without a policy change is an early sign of drift in the inputs or the model.
    """
    if not 0 <= n_flagged <= n_total:
        raise InvalidInput([Problem("n_flagged", f"expected 0 <= n_flagged <= n_total, got {n_flagged} of {n_total}")])
    return n_flagged / n_total if n_total else None


def flag_rate_by_reason(reasons: Iterable[str], n_total: int) -> dict[str, float]:
    """The flag rate split by the rule that sent each flagged case to review.

    ``reasons`` holds one entry per flagged case (the rule's name); every share is over all ``n_total`` cases of
    the window, so the shares add up to ``flag_rate``. Most frequent reason first.
    """
    counts = Counter(reasons)
    flagged = sum(counts.values())
    if flagged > n_total:
        raise InvalidInput([Problem("reasons", f"{flagged} flagged cases but only {n_total} in total")])
    return {reason: count / n_total for reason, count in counts.most_common()}


@dataclass(frozen=True)
class Turnaround:
    """Seconds from task creation to completion over the ``n`` completed tasks; ``open`` were left out."""

    n: int
    open: int
    mean: float
    p50: float
    p95: float


def _seconds(start: Times, end: Times, names: tuple[str, str]) -> Floats:
    """``end - start`` in seconds per task, NaN where either is missing."""
    if len(start) != len(end):
        raise InvalidInput([Problem(names[1], f"expected {len(start)} timestamps, one per task, got {len(end)}")])
    if isinstance(start, np.ndarray) != isinstance(end, np.ndarray):
        raise InvalidInput([Problem(names[1], f"give {names[0]} and {names[1]} both as datetimes or both as arrays")])
    if isinstance(start, np.ndarray) and isinstance(end, np.ndarray):
        delta = end.astype("datetime64[us]") - start.astype("datetime64[us]")
        return np.where(np.isnat(delta), np.nan, delta / np.timedelta64(1, "s")).astype(np.float64)
    out = np.full(len(start), np.nan)
    try:
        for i, (a, b) in enumerate(zip(start, end, strict=True)):
            if a is not None and b is not None:
                out[i] = (b - a).total_seconds()
    except TypeError as error:  # naive and aware datetimes mixed
        raise InvalidInput([Problem(names[1], f"cannot compare with {names[0]}: {error}")]) from error
    return out


def turnaround(created: Times, completed: Times) -> Turnaround | None:
    """Review turnaround ``completed - created``: mean, median and 95th percentile, in seconds.

    The seed defines the KPI as ``Avg(Time_completed - Time_created)``; the mean alone hides a long tail that
    an SLA cares about, hence p50 and p95 beside it. Percentiles interpolate linearly between order statistics
    (numpy's default, Hyndman & Fan 1996 type 7). Tasks not yet completed (None or NaT) are counted in
    ``open`` and left out; None when no task was completed.
    """
    seconds = _seconds(created, completed, ("created", "completed"))
    done = _completed(seconds[~np.isnan(seconds)])
    if done.size == 0:
        return None
    p50, p95 = np.percentile(done, PERCENTS)
    return Turnaround(int(done.size), int(seconds.size - done.size), float(done.mean()), float(p50), float(p95))


def _completed(seconds: npt.ArrayLike) -> Floats:
    done = np.asarray(seconds, dtype=np.float64)
    if (done < 0).any():
        raise InvalidInput([Problem("completed", "a task was completed before it was created")])
    return done


PERCENTS = (50, 95)  # the turnaround's percentiles


def percentile_ranked(n: int, ranked: Mapping[int, float], percent: float) -> float:
    """numpy's default percentile (linear, Hyndman & Fan type 7) of ``n`` values from their order statistics
    around it (0-based rank -> value; ``store.metrics.completed`` gives these), computed as numpy computes it."""
    at = percent / 100 * (n - 1)
    below = math.floor(at)
    above = min(below + 1, n - 1)
    try:
        a, b = ranked[below], ranked[above]
    except KeyError as missing:
        raise InvalidInput([Problem("ranked", f"rank {missing} is needed for the {percent}th percentile")]) from None
    t = at - below
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t


def turnaround_ranked(n: int, still_open: int, total: float, ranked: Mapping[int, float]) -> Turnaround | None:
    """``turnaround`` from the completed tasks' count, total seconds and order statistics around the percentiles:
    what the database hands back instead of every task."""
    if n == 0:
        return None
    if ranked[0] < 0:
        raise InvalidInput([Problem("completed", "a task was completed before it was created")])
    p50, p95 = (percentile_ranked(n, ranked, p) for p in PERCENTS)
    return Turnaround(n, still_open, total / n, p50, p95)


@dataclass(frozen=True)
class Bin:
    """Completed tasks whose turnaround (seconds) is in [low, high); the last bin includes its ``high``."""

    low: float
    high: float
    count: int


def turnaround_bins(created: Times, completed: Times, bins: int = 12) -> list[Bin]:
    """The distribution of turnaround over the completed tasks, in ``bins`` bins spaced evenly on a log scale
    from the shortest to the longest (turnaround spans seconds to days; even bins would put almost everything
    in the first). Zero-second turnarounds count in the first bin. Empty when no task was completed."""
    seconds = _seconds(created, completed, ("created", "completed"))
    done = _completed(seconds[~np.isnan(seconds)])
    if done.size == 0:
        return []
    edges = turnaround_edges(float(done.min()), float(done.max()), bins)
    if edges is None:
        return [Bin(float(done.min()), float(done.max()), int(done.size))]
    counts, _ = np.histogram(np.clip(done, edges[0], edges[-1]), bins=edges)
    return binned(edges, [int(c) for c in counts])


def turnaround_edges(shortest: float, longest: float, bins: int = 12) -> list[float] | None:
    """``turnaround_bins``' edges: ``bins`` bins spaced evenly on a log scale from the shortest turnaround to the
    longest (both at least one second); None when they are one value (a single bin then holds every task)."""
    low, high = max(shortest, 1.0), max(longest, 1.0)
    return None if high <= low else [float(e) for e in np.geomspace(low, high, bins + 1)]


def binned(edges: Sequence[float], counts: Sequence[int]) -> list[Bin]:
    return [Bin(a, b, c) for a, b, c in zip(edges[:-1], edges[1:], counts, strict=True)]


@dataclass(frozen=True)
class SlaCompliance:
    """``met / (met + breached)``; None when no task has a known result yet.

    ``met``: completed by its due time. ``breached``: completed late, or still open after its due time.
    ``pending``: open and not yet due, so its result is unknown. ``no_due``: tasks without a due time, which
    no SLA applies to. Pending and no-due tasks are not in the share.
    """

    value: float | None
    met: int
    breached: int
    pending: int
    no_due: int

    @classmethod
    def of(cls, met: int, breached: int, pending: int, no_due: int) -> SlaCompliance:
        """From the tasks counted by their result (as the store counts them)."""
        decided = met + breached
        return cls(met / decided if decided else None, met, breached, pending, no_due)


def sla_compliance(
    due: Sequence[datetime | None], completed: Sequence[datetime | None], now: datetime
) -> SlaCompliance:
    """Share of tasks with a due time that were completed by it, as of ``now``.

    A task completed exactly at its due time meets it. Tasks without a due time are excluded (and counted in
    ``no_due``) rather than counted as met, which would flatter the rate; open tasks count as breached once
    ``now`` has passed their due time, since they can no longer meet it.
    """
    if len(due) != len(completed):
        raise InvalidInput([Problem("completed", f"expected {len(due)} timestamps, one per task: {len(completed)}")])
    met = breached = pending = no_due = 0
    try:
        for deadline, done in zip(due, completed, strict=True):
            if deadline is None:
                no_due += 1
            elif done is not None:
                met, breached = (met + 1, breached) if done <= deadline else (met, breached + 1)
            elif now > deadline:
                breached += 1
            else:
                pending += 1
    except TypeError as error:  # naive and aware datetimes mixed
        raise InvalidInput([Problem("completed", f"cannot compare with the due times: {error}")]) from error
    return SlaCompliance.of(met, breached, pending, no_due)


def cost_per_corrected(human_labour_cost: float, system_cost: float, n_corrected: int) -> float | None:
    """``(human labour cost + system cost) / N_corrected``: what each prediction a human corrected cost.

    The seed's ROI measure for the review process. With a flow's ``costs``, labour is typically
    ``reviews * per_review`` and system cost ``cases * per_case``. A corrected prediction is a reviewed case
    whose final decision differs from the model's label. None, not infinity, when nothing was corrected: the
    cost per correction is then undefined, however much was spent.
    """
    problems = [
        Problem(name, f"expected a non-negative amount, got {value!r}")
        for name, value in (("human_labour_cost", human_labour_cost), ("system_cost", system_cost))
        if not (value >= 0 and np.isfinite(value))
    ]
    if n_corrected < 0:
        problems.append(Problem("n_corrected", f"expected a non-negative count, got {n_corrected}"))
    if problems:
        raise InvalidInput(problems)
    return (human_labour_cost + system_cost) / n_corrected if n_corrected else None
