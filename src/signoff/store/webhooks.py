"""How far each webhook has delivered the sealed audit events, and who is delivering it now (a short lease)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from signoff.store.schema import webhook_cursors


def ensure(conn: Connection, name: str, start_seq: int, now: datetime) -> None:
    """Create the cursor of a newly configured webhook, starting at ``start_seq``."""
    if conn.execute(select(webhook_cursors.c.name).where(webhook_cursors.c.name == name)).first() is None:
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(webhook_cursors).values(name=name, delivered_seq=start_seq, attempts=0, updated_at=now)
                )
        except IntegrityError:
            pass  # another process created it first


def take(conn: Connection, name: str, now: datetime, hold: timedelta) -> Row[Any] | None:
    """Lease the webhook's next delivery for ``hold`` if it is due and nobody else holds it."""
    result = conn.execute(
        update(webhook_cursors)
        .where(
            webhook_cursors.c.name == name,
            or_(webhook_cursors.c.next_attempt_at.is_(None), webhook_cursors.c.next_attempt_at <= now),
        )
        .values(next_attempt_at=now + hold, updated_at=now)
        .returning(webhook_cursors.c.delivered_seq, webhook_cursors.c.attempts)
    )
    return result.first()


def delivered(conn: Connection, name: str, seq: int, now: datetime) -> None:
    conn.execute(
        update(webhook_cursors)
        .where(webhook_cursors.c.name == name)
        .values(delivered_seq=seq, attempts=0, last_error=None, next_attempt_at=None, updated_at=now)
    )


def failed(conn: Connection, name: str, error: str, retry_at: datetime, now: datetime) -> None:
    conn.execute(
        update(webhook_cursors)
        .where(webhook_cursors.c.name == name)
        .values(
            attempts=webhook_cursors.c.attempts + 1, last_error=error[:2000], next_attempt_at=retry_at, updated_at=now
        )
    )
