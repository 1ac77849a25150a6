"""Numbers read from environment variables when a server starts: one reader, so that every setting is refused the
same way, in one line that names it, before anything is served."""

from __future__ import annotations

import math
import os


def number(
    name: str, default: float, *, whole: bool = False, lowest: float | None = None, highest: float | None = None
) -> float:
    """The number in ``$name``, or ``default`` when it is unset. Above 0 unless ``lowest`` is given (then at least
    ``lowest``), and at most ``highest``; anything else stops the program with a message saying what is allowed."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value: float | None = int(raw) if whole else float(raw)
    except ValueError:
        value = None
    fits = (
        value is not None
        and math.isfinite(value)
        and (value > 0 if lowest is None else value >= lowest)
        and (highest is None or value <= highest)
    )
    if not fits:
        bounds = "above 0" if lowest is None else f"from {lowest:g}"
        if highest is not None:
            bounds += f" to {highest:g}"
        raise SystemExit(f"{name} must be {'a whole number' if whole else 'a number'} {bounds}, got {raw!r}")
    assert value is not None
    return value
