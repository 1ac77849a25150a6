"""Entry-point models for tests: deterministic, instant, and some deliberately broken."""

from __future__ import annotations

import numpy as np
import pandas as pd


def by_score(frame: pd.DataFrame) -> np.ndarray:
    """P(second label) is the case's ``score`` field itself, so a test chooses every probability."""
    p = frame["score"].to_numpy(dtype=float)
    return np.column_stack([1 - p, p])


def nan_for_negative(frame: pd.DataFrame) -> np.ndarray:
    """Like ``by_score`` but returns NaN where ``score`` is negative... which the schema forbids, so: score > 0.9."""
    out = by_score(frame)
    out[frame["score"].to_numpy() > 0.9] = np.nan
    return out


def not_a_distribution(frame: pd.DataFrame) -> np.ndarray:
    return np.full((len(frame), 2), 0.7)


def negative(frame: pd.DataFrame) -> np.ndarray:
    return np.tile([-0.2, 1.2], (len(frame), 1))


def crashes(frame: pd.DataFrame) -> np.ndarray:
    raise RuntimeError("the model server is down")


def wrong_shape(frame: pd.DataFrame) -> np.ndarray:
    return np.full((len(frame), 3), 1 / 3)


def ten_unsure(frame: pd.DataFrame) -> np.ndarray:
    """Ten labels, every one at 0.1: a digit the model cannot read, so a threshold rule sends it to review."""
    return np.full((len(frame), 10), 0.1)
