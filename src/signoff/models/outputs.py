"""Checks on what a model returns: only a finite probability distribution may ever decide a case."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

TOLERANCE = 1e-6


def distribution_problems(probabilities: npt.NDArray[np.float64]) -> list[str | None]:
    """For each row, why it is not a probability distribution, or None if it is one."""
    rows = probabilities
    finite = np.asarray(np.isfinite(rows).all(axis=1))
    safe = np.where(np.isfinite(rows), rows, 0.0)
    negative = np.asarray((safe < -TOLERANCE).any(axis=1))
    above_one = np.asarray((safe > 1 + TOLERANCE).any(axis=1))
    sums = safe.sum(axis=1)
    unbalanced = np.abs(sums - 1.0) > TOLERANCE
    problems: list[str | None] = [None] * len(rows)
    for i in np.flatnonzero(~finite | negative | above_one | unbalanced):
        if not finite[i]:
            problems[i] = "a probability is NaN or infinite"
        elif negative[i]:
            problems[i] = f"a probability is negative ({float(rows[i].min()):.10g})"
        elif above_one[i]:
            problems[i] = f"a probability is above 1 ({float(rows[i].max()):.10g})"
        else:
            problems[i] = f"probabilities sum to {float(sums[i]):.10g}, not 1"
    return problems
