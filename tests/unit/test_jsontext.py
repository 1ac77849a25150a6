"""JSON text written a column at a time is, character for character, what ``json`` writes for each document: the
stored fields, groups and probabilities, and the payload hashes of earlier cases, stay as they were."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signoff.jsontext import arrays, rows

ENCODERS = (
    json.JSONEncoder(),  # json.dumps, as the fields column is written
    json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False),  # payload_hash
)
KEYS = st.text(min_size=1, max_size=6)  # '%', quotes, backslashes, non-ASCII and control characters included
SCALARS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(max_size=4),
    st.booleans(),
    st.none(),
)


@st.composite
def one_shape(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Documents with the same keys in the same order, each key's values of one type or mixed."""
    keys = draw(st.lists(KEYS, min_size=1, max_size=5, unique=True))
    kinds = {
        k: draw(st.sampled_from([SCALARS, st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=4)]))
        for k in keys
    }
    return draw(st.lists(st.fixed_dictionaries({k: kinds[k] for k in keys}), max_size=8))


# Generation is the slow part on a loaded machine; the property is cheap to check.
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(one_shape())
def test_documents_of_one_shape_read_as_json_writes_them(documents: list[dict[str, Any]]) -> None:
    for encoder in ENCODERS:
        assert rows(documents, encoder) == [encoder.encode(d) for d in documents]


@given(st.lists(st.dictionaries(KEYS, SCALARS, max_size=3), max_size=6))
def test_documents_of_many_shapes_too(documents: list[dict[str, Any]]) -> None:
    for encoder in ENCODERS:
        assert rows(documents, encoder) == [encoder.encode(d) for d in documents]


@given(st.lists(st.none() | st.lists(st.floats() | st.integers(), min_size=0, max_size=3), max_size=10))
def test_arrays_with_gaps_and_any_number_even_nan(lists: list[list[float] | None]) -> None:
    encoder = ENCODERS[0]
    assert arrays(lists, encoder) == [None if x is None else encoder.encode(x) for x in lists]
