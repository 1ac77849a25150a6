"""Each seal commits to every field of its event and to the seal before it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from signoff.audit.chain import ENCODING, GENESIS, canonical, event_hash

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


@pytest.mark.parametrize(
    ("data", "tail"),
    [
        ({"score": float("nan")}, b'{"score":NaN}]'),
        ({"score": float("inf")}, b'{"score":Infinity}]'),
        ({"skill": "x\ud800"}, b'{"skill":"x\xed\xa0\x80"}]'),
        ({"name": "\u00e9\u202e"}, '{"name":"\u00e9\u202e"}]'.encode()),
    ],
)
def test_the_encoding_is_total_and_stable_for_what_json_text_cannot_say_in_utf8(data: Any, tail: bytes) -> None:
    """A NaN or a lone surrogate in stored event data once raised here, and stopped the sealer at that event."""
    body = canonical(7, AT, "alice", "case.submitted", "case", "42", data, encoding=ENCODING)
    assert body.endswith(tail)
    assert event_hash(GENESIS, **{**EVENT, "data": data}) == hashlib.sha256(GENESIS.encode() + body).hexdigest()


def test_a_seal_of_an_encoding_this_version_does_not_know_is_refused_not_guessed() -> None:
    with pytest.raises(ValueError, match="unknown canonical encoding 2"):
        event_hash(GENESIS, **EVENT, encoding=2)
