"""How values look on a page: numbers formatted for reading, everything else as text (Jinja2 escapes it)."""

from __future__ import annotations

import json
import math
from datetime import datetime

from signoff.metrics.estimates import Estimate


def number(value: float | int) -> str:
    """Thousands separated, at most four significant digits below 1,000, two decimals above."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return f"{value:,.0f}"
    if abs(value) >= 1000:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:.4g}"


def value(raw: object) -> str:
    """A case field as text."""
    if raw is None:
        return "—"
    if isinstance(raw, bool):
        return "yes" if raw else "no"
    if isinstance(raw, int | float):
        return number(raw)
    if isinstance(raw, str):
        return raw
    return json.dumps(raw, ensure_ascii=False, sort_keys=True, default=str)


def percent(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "—"
    return f"{100 * p:.1f}%"


def signed_points(delta: float) -> str:
    """A change in probability in percentage points, with its sign."""
    return f"{100 * delta:+.1f} pts"


def when(at: datetime | None) -> str:
    return "—" if at is None else f"{at:%Y-%m-%d %H:%M:%S} UTC"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def estimate(found: Estimate | None) -> str:
    """A proportion with its interval and sample size (an ``Estimate``), or a dash when nothing was measured."""
    if found is None:
        return "—"
    return f"{100 * found.value:.1f}% ({100 * found.low:.1f}–{100 * found.high:.1f}%, n={found.n})"
