"""The table a model sees and the columns rules read, built the same way for intake, calibration and replay."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from signoff.config import Flow


def frame_of(flow: Flow, rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per case, one column per declared field in declaration order; numbers as float64 with NaN."""
    columns = list(flow.fields)
    frame = pd.DataFrame([[row.get(name) for name in columns] for row in rows], columns=columns)
    for name, spec in flow.fields.items():
        if spec.type in ("number", "integer"):
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return frame


def columns_of(flow: Flow, frame: pd.DataFrame) -> dict[str, npt.NDArray[Any]]:
    """Field columns for rules: numbers as floats with NaN for missing, everything else as objects with None."""
    columns: dict[str, npt.NDArray[Any]] = {}
    for name, spec in flow.fields.items():
        if spec.type in ("number", "integer"):
            columns[name] = frame[name].to_numpy(dtype=np.float64)
        else:
            column = frame[name].astype(object)
            columns[name] = column.where(column.notna(), None).to_numpy(dtype=object)
    return columns
