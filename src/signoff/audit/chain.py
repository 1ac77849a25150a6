"""The hash chain: each seal commits to its event's every field and to the seal before it."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64


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
) -> str:
    """SHA-256 over the previous hash and the canonical JSON of the event."""
    if at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware; a naive time would hash differently per machine")
    canonical = json.dumps(
        [
            event_id,
            at.astimezone(UTC).isoformat(timespec="microseconds"),
            actor,
            action,
            entity,
            entity_id,
            data,
        ],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return hashlib.sha256(prev_hash.encode() + canonical.encode()).hexdigest()


def row_hash(prev_hash: str, event_id: int, row: Any) -> str:
    """``event_hash`` of an event row as the store returns it (``at``, ``actor``, ``action``, ``entity``,
    ``entity_id``, ``data``): what the sealer writes and every check of the chain recomputes."""
    return event_hash(
        prev_hash,
        event_id=event_id,
        at=row.at,
        actor=row.actor,
        action=row.action,
        entity=row.entity,
        entity_id=row.entity_id,
        data=row.data,
    )
