"""Webhook delivery state: each webhook's cursor (the seq through which its deliveries are logged, and who is
delivering it now: a short lease) and the delivery log (one row per message, with its attempts and status)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from signoff.store.schema import webhook_cursors, webhook_deliveries

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


def ensure(conn: Connection, name: str, start_seq: int, now: datetime) -> None:
    """Create the cursor of a newly configured webhook, starting at ``start_seq``."""
    if conn.execute(select(webhook_cursors.c.name).where(webhook_cursors.c.name == name)).first() is None:
        try:
            with conn.begin_nested():
                conn.execute(insert(webhook_cursors).values(name=name, logged_seq=start_seq, updated_at=now))
        except IntegrityError:
            pass  # another process created it first


def take(conn: Connection, name: str, now: datetime, hold: timedelta) -> Row[Any] | None:
    """Lease the webhook for ``hold`` if nobody else holds it; its cursor."""
    result = conn.execute(
        update(webhook_cursors)
        .where(
            webhook_cursors.c.name == name,
            or_(webhook_cursors.c.next_attempt_at.is_(None), webhook_cursors.c.next_attempt_at <= now),
        )
        .values(next_attempt_at=now + hold, updated_at=now)
        .returning(webhook_cursors.c.logged_seq)
    )
    return result.first()


def release(conn: Connection, name: str, now: datetime, logged_seq: int | None = None) -> None:
    """End the lease, moving the cursor to ``logged_seq`` if given."""
    values: dict[str, Any] = {"next_attempt_at": None, "updated_at": now}
    if logged_seq is not None:
        values["logged_seq"] = logged_seq
    conn.execute(update(webhook_cursors).where(webhook_cursors.c.name == name).values(**values))


def advance(conn: Connection, name: str, logged_seq: int) -> None:
    """Move the cursor past the events just logged as a delivery, keeping the lease."""
    conn.execute(update(webhook_cursors).where(webhook_cursors.c.name == name).values(logged_seq=logged_seq))


def next_pending(conn: Connection, name: str) -> Row[Any] | None:
    """The webhook's earliest pending delivery: deliveries go out in commit order, a failing one holds back the
    rest until it is delivered or dead."""
    return conn.execute(
        select(webhook_deliveries)
        .where(webhook_deliveries.c.webhook == name, webhook_deliveries.c.status == PENDING)
        .order_by(webhook_deliveries.c.first_seq)
        .limit(1)
    ).first()


def log(
    conn: Connection, delivery_id: str, name: str, first_seq: int, last_seq: int, events: int, now: datetime
) -> Row[Any]:
    conn.execute(
        insert(webhook_deliveries).values(
            id=delivery_id,
            webhook=name,
            first_seq=first_seq,
            last_seq=last_seq,
            events=events,
            status=PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
    )
    return get(conn, delivery_id)  # type: ignore[return-value]  # just inserted


def get(conn: Connection, delivery_id: str) -> Row[Any] | None:
    return conn.execute(select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)).first()


def attempted(conn: Connection, delivery_id: str, error: str | None, now: datetime, retry_at: datetime | None) -> None:
    """Count an attempt: delivered without ``error``; else pending until ``retry_at``, or dead without one."""
    values: dict[str, Any] = {"attempts": webhook_deliveries.c.attempts + 1, "updated_at": now}
    if error is None:
        values.update(status=DELIVERED, delivered_at=now, next_attempt_at=None)
    else:
        values.update(status=PENDING if retry_at else DEAD, last_error=error[:2000], next_attempt_at=retry_at)
    conn.execute(update(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id).values(**values))


def replay(conn: Connection, delivery_id: str, now: datetime) -> None:
    """Send a delivery again, with a fresh count of attempts."""
    conn.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id == delivery_id)
        .values(status=PENDING, attempts=0, next_attempt_at=now, updated_at=now)
    )


def listed(conn: Connection, webhook: str | None, status: str | None, limit: int) -> list[Row[Any]]:
    """The latest deliveries first."""
    query = select(webhook_deliveries).order_by(webhook_deliveries.c.first_seq.desc(), webhook_deliveries.c.id)
    if webhook is not None:
        query = query.where(webhook_deliveries.c.webhook == webhook)
    if status is not None:
        query = query.where(webhook_deliveries.c.status == status)
    return list(conn.execute(query.limit(limit)))
