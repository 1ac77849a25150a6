"""Each seal commits to every field of its event and to the seal before it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from signoff.audit.chain import GENESIS, event_hash

AT = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
EVENT: dict[str, Any] = {
    "event_id": 7,
    "at": AT,
    "actor": "alice",
    "action": "case.submitted",
    "entity": "case",
    "entity_id": "42",
    "data": {"score": 0.5, "group": "a"},
}


def test_the_hash_is_sha256_of_the_previous_hash_and_the_canonical_event() -> None:
    canonical = '[7,"2024-05-01T12:00:00.123456+00:00","alice","case.submitted","case","42",{"group":"a","score":0.5}]'
    assert event_hash(GENESIS, **EVENT) == hashlib.sha256((GENESIS + canonical).encode()).hexdigest()


def test_the_same_event_always_gives_the_same_hash() -> None:
    assert event_hash(GENESIS, **EVENT) == event_hash(GENESIS, **dict(EVENT))


@pytest.mark.parametrize(
    ("field", "other"),
    [
        ("event_id", 8),
        ("at", AT + timedelta(microseconds=1)),
        ("actor", "bob"),
        ("action", "case.decided"),
        ("entity", "task"),
        ("entity_id", "43"),
        ("data", {"score": 0.5, "group": "b"}),
    ],
)
def test_changing_any_field_changes_the_hash(field: str, other: Any) -> None:
    assert event_hash(GENESIS, **{**EVENT, field: other}) != event_hash(GENESIS, **EVENT)


def test_changing_the_previous_hash_changes_the_hash() -> None:
    assert event_hash("1" * 64, **EVENT) != event_hash(GENESIS, **EVENT)


def test_the_order_of_keys_in_data_does_not_matter() -> None:
    reordered = {**EVENT, "data": {"group": "a", "score": 0.5}}
    assert event_hash(GENESIS, **reordered) == event_hash(GENESIS, **EVENT)


def test_the_same_instant_in_another_time_zone_gives_the_same_hash() -> None:
    elsewhere = AT.astimezone(timezone(timedelta(hours=2)))
    assert event_hash(GENESIS, **{**EVENT, "at": elsewhere}) == event_hash(GENESIS, **EVENT)


def test_data_with_nan_is_refused() -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        event_hash(GENESIS, **{**EVENT, "data": {"score": float("nan")}})
