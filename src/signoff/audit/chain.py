"""The hash chain: each seal commits to its event's every field and to the seal before it.

The canonical encoding of an event is versioned: each seal records the version it was made with (``encoding``), so
a later version can change the encoding without making older seals unverifiable. Version 1 is total: every event
the store can hold encodes, so no event can stop the sealer (see ``canonical``).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from signoff.store.records import ChainLink

GENESIS = "0" * 64
ENCODING = 1  # the version of the canonical encoding new seals are made with


# One encoder for every event: ``json.dumps`` with these options makes a new one per call, which cost a check of the
# chain a third of its encoding time. Its output is ``json.dumps``'s to the byte (``encode`` joins these same pieces).
_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True).iterencode


def canonical(
    event_id: int, at: datetime, actor: str, action: str, entity: str, entity_id: str, data: Any, *, encoding: int
) -> bytes:
    """The bytes a seal hashes, in version ``encoding`` of the canonical form.

    Version 1: a compact JSON array with sorted keys, non-ASCII text as itself, in UTF-8. It must be total: a lone
    surrogate (which Python's JSON reader returns for ``"\\ud800"``) is written as its three bytes ("surrogatepass")
    and a non-finite number as ``NaN``/``Infinity``, so even an event that should never have been stored is sealed
    rather than stopping the chain for every event after it. For valid text and finite numbers, which is all the
    store held before, the bytes are those the chain has always hashed."""
    if encoding != 1:
        raise ValueError(f"unknown canonical encoding {encoding}: this Signoff knows version 1 only")
    return _body(event_id, utc_text(at), actor, action, entity, entity_id, data)


def utc_text(at: datetime) -> str:
    """An event's time as version 1 of the canonical form writes it: UTC, ISO 8601, with microseconds."""
    if at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware; a naive time would hash differently per machine")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _body(event_id: int, at: str, actor: str, action: str, entity: str, entity_id: str, data: Any) -> bytes:
    text = "".join(_ENCODE([event_id, at, actor, action, entity, entity_id, data], True))
    return text.encode("utf-8", "surrogatepass")


def event_hash(
    prev_hash: str,
    *,
    event_id: int,
    at: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    data: Any,
    encoding: int = ENCODING,
) -> str:
    """SHA-256 over the previous hash and the canonical encoding of the event."""
    return chained(prev_hash, canonical(event_id, at, actor, action, entity, entity_id, data, encoding=encoding))


def chained(prev_hash: str, body: bytes) -> str:
    """A seal's hash: SHA-256 over the previous hash (as its hex text) and the event's canonical bytes."""
    return hashlib.sha256(prev_hash.encode() + body).hexdigest()


_HASHED_COLUMNS = ("at", "actor", "action", "entity", "entity_id", "data")


def row_body(event_id: int, row: Any, encoding: int = ENCODING) -> bytes:
    """The canonical bytes of an event row as the store returns it (its ``_HASHED_COLUMNS``): what the sealer hashes
    and keeps beside the seal."""
    return canonical(event_id, encoding=encoding, **{c: getattr(row, c) for c in _HASHED_COLUMNS})


def link_body(link: ChainLink, at: str) -> bytes:
    """The canonical bytes (version 1) of the event a seal holds, its time already as ``utc_text``: a check of the
    chain formats each distinct time once, as the events of one transaction share it."""
    return _body(link.event_id, at, link.actor, link.action, link.entity, link.entity_id, link.data)  # type: ignore[arg-type]
