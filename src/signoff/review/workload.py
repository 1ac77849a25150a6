"""Workload limits: leases held at once, reviews per hour, continuous work before a break, queue rotation.

Pure functions over a reviewer's recent review times; the claim asks them before it leases anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Literal, assert_never

from signoff.config.flows import Workload
from signoff.errors import LimitReached

HOUR = timedelta(hours=1)


def lookback(limits: Workload) -> timedelta:
    """How far back the review times must reach for ``check`` to judge every limit."""
    continuous = timedelta(seconds=(limits.max_continuous or 0) + limits.min_break)
    return max(HOUR if limits.max_per_hour else timedelta(0), continuous if limits.max_continuous else timedelta(0))


def streak_start(times: Sequence[datetime], min_break: float) -> datetime | None:
    """When the current stretch of work began: the earliest review not separated from the next one by a
    break of at least ``min_break`` seconds. ``times`` are newest first."""
    if not times:
        return None
    start = times[0]
    for newer, older in pairwise(times):
        if (newer - older).total_seconds() >= min_break:
            break
        start = older
    return start


@dataclass(frozen=True)
class Reached:
    """A workload limit a reviewer is at now: which one, where they stand (tasks held, reviews in the last hour,
    or seconds worked without a break), the limit, and when it lifts (None: once they hand back a task)."""

    limit: Literal["max_leases", "max_per_hour", "max_continuous"]
    value: float
    allowed: float
    until: datetime | None


def reached(limits: Workload, held: int, times: Sequence[datetime], now: datetime) -> Reached | None:
    """The first limit that would refuse a claim now, or None. One judgment for the claim and the lead page.
    ``times`` are the reviewer's review times over ``lookback(limits)``, newest first."""
    if held >= limits.max_leases:
        return Reached("max_leases", held, limits.max_leases, None)
    if limits.max_per_hour is not None:
        last_hour = [t for t in times if t > now - HOUR]
        if len(last_hour) >= limits.max_per_hour:
            return Reached(
                "max_per_hour", len(last_hour), limits.max_per_hour, last_hour[limits.max_per_hour - 1] + HOUR
            )
    if limits.max_continuous is not None and times and (now - times[0]).total_seconds() < limits.min_break:
        start = streak_start(times, limits.min_break)
        assert start is not None
        worked = (now - start).total_seconds()
        if worked >= limits.max_continuous:
            return Reached(
                "max_continuous", worked, limits.max_continuous, times[0] + timedelta(seconds=limits.min_break)
            )
    return None


def check(limits: Workload, held: int, times: Sequence[datetime], now: datetime) -> None:
    """Refuse a new claim that would break a limit, saying which and when the reviewer may go on.
    ``times`` are the reviewer's review times over ``lookback(limits)``, newest first."""
    hit = reached(limits, held, times, now)
    if hit is None:
        return
    retry = None if hit.until is None else (hit.until - now).total_seconds()
    match hit.limit:
        case "max_leases":
            raise LimitReached(
                f"you hold {held} tasks (the limit is {limits.max_leases}): submit, skip or release one first"
            )
        case "max_per_hour":
            assert hit.until is not None
            raise LimitReached(
                f"you reviewed {hit.value:.0f} tasks in the last hour (the limit is {limits.max_per_hour}); "
                f"go on at {hit.until:%H:%M:%S} UTC",
                retry_after=retry,
            )
        case "max_continuous":
            assert hit.until is not None
            raise LimitReached(
                f"you have worked {hit.value / 60:.0f} minutes without a break (the limit is "
                f"{hit.allowed / 60:.0f}); take a break until {hit.until:%H:%M:%S} UTC",
                retry_after=retry,
            )
        case _ as unreachable:
            assert_never(unreachable)


def rotation_due(limits: Workload, last: Sequence[tuple[str, str]]) -> tuple[str, str] | None:
    """The queue a reviewer should rotate away from: the one their last ``rotate_after`` reviews were all in."""
    if limits.rotate_after is None or len(last) < limits.rotate_after:
        return None
    window = last[: limits.rotate_after]
    return window[0] if all(q == window[0] for q in window) else None
