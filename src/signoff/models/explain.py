"""Which fields pushed a case towards the model's prediction: a model-agnostic, one-field-at-a-time explanation.

The method ("replace with a reference value", also called occlusion): score the case as it is, then once more for
each field with that field alone replaced by a reference value (the median of recent cases for numbers, their
most frequent value otherwise). A field's contribution is how much the probability of the predicted label drops
when its real value is taken away: positive means the value pushed towards the prediction, negative away from it.
It needs only the model's probabilities (one batch of 1 + n_fields rows), so it works for any model; it ignores
interactions between fields, and a field equal to its reference contributes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from signoff.config import Flow
from signoff.domain import Fields
from signoff.models.frames import frame_of

Score = Callable[[pd.DataFrame], npt.NDArray[np.float64]]


@dataclass(frozen=True)
class Contribution:
    """How much ``field`` moved the probability of the predicted label (in probability points, -1 to 1)."""

    field: str
    value: Any
    reference: Any
    delta: float


def reference_values(flow: Flow, rows: Sequence[Fields]) -> Fields:
    """A typical value per field from a sample of cases: the median of numbers, the most frequent other value.
    Fields with no value in any row are left out."""
    reference: Fields = {}
    for name, spec in flow.fields.items():
        values = [row.get(name) for row in rows if row.get(name) is not None]
        if not values:
            continue
        if spec.type in ("number", "integer"):
            numbers = np.asarray([float(v) for v in values if isinstance(v, int | float)], dtype=np.float64)
            numbers = numbers[np.isfinite(numbers)]
            if numbers.size:
                middle = float(np.median(numbers))
                reference[name] = round(middle) if spec.type == "integer" else middle
        else:
            reference[name] = Counter(str(v) if not isinstance(v, bool) else v for v in values).most_common(1)[0][0]
    return reference


def contributions(
    flow: Flow,
    score: Score,
    fields: Fields,
    reference: Fields,
    label: str | None = None,
    top: int = 6,
) -> list[Contribution]:
    """The ``top`` fields by the size of their contribution to ``label`` (default: the label the model predicts
    for this case). Returns [] when the model gives no usable probabilities."""
    names = [n for n in flow.fields if n in reference and fields.get(n) != reference[n]]
    rows = [dict(fields)] + [{**fields, name: reference[name]} for name in names]
    probabilities = np.asarray(score(frame_of(flow, rows)), dtype=np.float64)
    if probabilities.shape != (len(rows), len(flow.labels)) or not np.all(np.isfinite(probabilities)):
        return []
    index = flow.labels.index(label) if label in flow.labels else int(np.argmax(probabilities[0]))
    deltas = probabilities[0, index] - probabilities[1:, index]
    found = [
        Contribution(name, fields.get(name), reference[name], float(delta))
        for name, delta in zip(names, deltas, strict=True)
        if abs(delta) > 1e-9  # a field the model ignores is not listed
    ]
    found.sort(key=lambda c: (-abs(c.delta), c.field))
    return found[:top]
