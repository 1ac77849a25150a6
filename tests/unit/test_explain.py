"""Feature contributions by replacing one field at a time with a reference value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.builders import make_flow
from signoff.models.explain import contributions, reference_values


def score_model(frame: pd.DataFrame) -> np.ndarray:
    """P(bad) = score, nudged up by amount: a model whose true contributions are known."""
    p = frame["score"].to_numpy(dtype=float) * 0.8 + np.nan_to_num(frame["amount"].to_numpy(dtype=float)) / 1000
    return np.column_stack([1 - p, p])


def test_reference_values_are_medians_and_modes() -> None:
    flow = make_flow()
    rows = [{"score": 0.1, "group": "a"}, {"score": 0.3, "group": "b", "amount": 100}, {"score": 0.9, "group": "b"}]
    assert reference_values(flow, rows) == {"score": 0.3, "group": "b", "amount": 100.0}
    assert reference_values(flow, []) == {}


def test_each_field_moves_the_predicted_probability_by_its_own_effect() -> None:
    flow = make_flow()
    case = {"score": 0.9, "amount": 50.0, "group": "a"}
    found = contributions(flow, score_model, case, {"score": 0.5, "amount": 0.0, "group": "b"})
    assert [c.field for c in found] == ["score", "amount"]  # group changes nothing; ordered by size
    assert found[0].delta == pytest.approx(0.8 * 0.4)
    assert found[1].delta == pytest.approx(0.05)
    assert found[0].value == 0.9 and found[0].reference == 0.5


def test_a_field_pushing_away_from_the_prediction_is_negative() -> None:
    flow = make_flow()
    found = contributions(flow, score_model, {"score": 0.8, "amount": 0.0, "group": "a"}, {"score": 0.5, "amount": 300})
    by_field = {c.field: c.delta for c in found}
    assert by_field["score"] > 0
    assert by_field["amount"] == pytest.approx(-0.3)


def test_an_explicit_label_and_the_top_limit() -> None:
    flow = make_flow()
    found = contributions(flow, score_model, {"score": 0.9, "group": "a"}, {"score": 0.5}, label="good", top=1)
    assert len(found) == 1 and found[0].delta == pytest.approx(-0.32)


def test_a_model_without_usable_probabilities_gives_no_contributions() -> None:
    flow = make_flow()
    broken = contributions(flow, lambda f: np.full((len(f), 2), np.nan), {"score": 0.9}, {"score": 0.5})
    assert broken == []
    assert contributions(flow, lambda f: np.ones((len(f), 3)), {"score": 0.9}, {"score": 0.5}) == []
