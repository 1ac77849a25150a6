"""Two models' scores on the same labelled cases, for the comparison and gate tests."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

LABELS = ("good", "bad")


def scored(
    n: int, seed: int, champion_noise: float, challenger_noise: float
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Binary truth (1: bad) and two models' P(bad): each sees the truth through its own noise, so the one with
    less noise is the better model, and both err on the same hard cases less often than by chance."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)

    def model(noise: float) -> npt.NDArray[np.float64]:
        return np.asarray(1 / (1 + np.exp(-(2 * truth - 1 + rng.normal(0, noise, n)))), dtype=np.float64)

    return truth, model(champion_noise), model(challenger_noise)


def two_columns(bad: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """P(good), P(bad) columns in ``LABELS`` order."""
    return np.column_stack([1 - bad, bad])
