"""Each audit seal keeps the canonical bytes its hash covers, so that a check of the chain hashes them as stored and
compares them with the event in SQL rather than re-encoding every event. Existing seals get theirs here, read a
batch at a time in chain order; a seal whose event no longer hashes to it keeps none, and a check of the chain
reports it from the event's columns as before.

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from signoff.store.schema import UtcDateTime

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

BATCH = 5000  # seals per read and per update: memory stays bounded at any size

Document = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
seals = sa.table(
    "audit_seals",
    sa.column("seq", sa.BigInteger()),
    sa.column("event_id", sa.BigInteger()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
    sa.column("encoding", sa.SmallInteger()),
    sa.column("body", sa.LargeBinary()),
)
events = sa.table(
    "audit_events",
    sa.column("id", sa.BigInteger()),
    sa.column("at", UtcDateTime()),
    sa.column("actor", sa.String()),
    sa.column("action", sa.String()),
    sa.column("entity", sa.String()),
    sa.column("entity_id", sa.String()),
    sa.column("data", Document),
)

# Version 1 of the canonical encoding as published (docs/explanation/audit-trail.md), fixed here as this migration
# ran it; a body is kept only where it hashes to its seal, so it can never disagree with the chain.
_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True).encode


def _version_1(event_id: int, at: datetime, *fields: Any) -> bytes:
    text = _ENCODE([event_id, at.astimezone(UTC).isoformat(timespec="microseconds"), *fields])
    return text.encode("utf-8", "surrogatepass")


def upgrade() -> None:
    op.add_column("audit_seals", sa.Column("body", sa.LargeBinary(), nullable=True))
    bind = op.get_bind()
    _allow_update(bind, allowed=True)
    query = (
        sa.select(seals.c.seq, seals.c.prev_hash, seals.c.hash, events.c.id, events.c.at, events.c.actor)
        .add_columns(events.c.action, events.c.entity, events.c.entity_id, events.c.data)
        .join(events, events.c.id == seals.c.event_id)
        .where(seals.c.encoding == 1)
        .order_by(seals.c.seq)
        .limit(BATCH)
    )
    after = 0
    while rows := bind.execute(query.where(seals.c.seq > after)).all():
        bodies = []
        for seq, prev_hash, seal_hash, *event in rows:
            body = _version_1(*event)
            if hashlib.sha256(prev_hash.encode() + body).hexdigest() == seal_hash:
                bodies.append({"the_seq": seq, "body": body})
        if bodies:
            update = seals.update().where(seals.c.seq == sa.bindparam("the_seq")).values(body=sa.bindparam("body"))
            bind.execute(update, bodies)
        after = rows[-1][0]
    _allow_update(bind, allowed=False)


def _allow_update(bind: sa.Connection, *, allowed: bool) -> None:
    """Lift or restore the append-only trigger on UPDATE of audit_seals (as 0001 made it) around the backfill."""
    if bind.dialect.name == "postgresql":
        op.execute(f"ALTER TABLE audit_seals {'DISABLE' if allowed else 'ENABLE'} TRIGGER audit_seals_append_only")
    elif allowed:
        op.execute("DROP TRIGGER IF EXISTS audit_seals_no_update")
    else:
        op.execute(
            "CREATE TRIGGER IF NOT EXISTS audit_seals_no_update BEFORE UPDATE ON audit_seals "
            "BEGIN SELECT RAISE(ABORT, 'audit_seals is append-only: UPDATE refused'); END"
        )


def downgrade() -> None:
    op.drop_column("audit_seals", "body")
