"""The retrain runs table: enqueue, claim (with a fencing attempt number), beat, advance, read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select, update

from signoff.store.database import Database, as_utc
from signoff.store.schema import retrain_runs

ACTIVE = ("queued", "running")


def enqueue(db: Database, conn: Connection, *, flow: str, requested_by: str, last_id: int, now: datetime) -> int | None:
    """The id of a new queued run, or None when a run is active or a newer one than ``last_id`` exists."""
    rows = db.run(conn, "enqueue_retrain", flow=flow, requested_by=requested_by, last_id=last_id, now=now)
    return int(rows[0].id) if rows else None


def claim(db: Database, conn: Connection, run_id: int, *, now: datetime, stale_before: datetime) -> Any | None:
    """The run, now running under a new attempt number, or None if it is finished or another worker beats it."""
    rows = db.run(conn, "claim_retrain", id=run_id, now=now, stale_before=stale_before)
    if not rows:
        return None
    row = rows[0]
    return row._replace(created_at=as_utc(row.created_at))


def advance(conn: Connection, run_id: int, attempt: int, **values: Any) -> bool:
    """Change the run if ``attempt`` still holds it; False when another worker took it over."""
    changed = conn.execute(
        update(retrain_runs)
        .where(retrain_runs.c.id == run_id, retrain_runs.c.attempt == attempt, retrain_runs.c.status == "running")
        .values(**values)
    )
    return changed.rowcount == 1


def active(conn: Connection, flow: str) -> Row[Any] | None:
    """The flow's queued or running run, if any."""
    return conn.execute(
        select(retrain_runs).where(retrain_runs.c.flow == flow, retrain_runs.c.status.in_(ACTIVE))
    ).first()


def latest(conn: Connection, flow: str) -> Row[Any] | None:
    return conn.execute(
        select(retrain_runs).where(retrain_runs.c.flow == flow).order_by(retrain_runs.c.id.desc()).limit(1)
    ).first()
