"""The time the engine goes by, and durations written as text ("90s", "4m", "2h", "1d").

By default the database keeps the time (``store.Database.now``: leases, due times and decisions are judged by one
clock). A simulation hands the database a ``Clock`` of its own instead, so that a simulated month runs in minutes
through the same services and statements.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Protocol

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}


class Clock(Protocol):
    """Tells the time: an aware UTC datetime."""

    def now(self) -> datetime: ...


class SimulatedClock:
    """A clock that moves only when told to: ``advance`` or ``set``, never backwards."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a simulated clock starts at an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        if moment < self._now:
            raise ValueError(f"a simulated clock does not go back (from {self._now} to {moment})")
        self._now = moment

    def advance(self, seconds: float) -> None:
        self.set(self._now + timedelta(seconds=seconds))


def seconds(text: str | float) -> float:
    """A duration in seconds: a number of seconds, or a number followed by s, m, h or d ("2h", "4.5m")."""
    if isinstance(text, int | float):
        value = float(text)
    else:
        found = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([smhd]?)\s*", text)
        if found is None:
            raise ValueError(f"{text!r} is not a duration: write a number with s, m, h or d, such as 90s, 4m or 2h")
        value = float(found.group(1)) * UNITS.get(found.group(2) or "s", 1.0)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"a duration must be a finite number of seconds above 0, not {text!r}")
    return value
