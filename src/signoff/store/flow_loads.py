"""The settings of each flow as its flow file was loaded, one row per change: what ``flow.loaded`` compares with."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from signoff.store.records import FlowLoad
from signoff.store.schema import flow_loads, policy_versions


def last_load(conn: Connection, flow: str) -> FlowLoad | None:
    query = select(flow_loads).where(flow_loads.c.flow == flow).order_by(flow_loads.c.seq.desc()).limit(1)
    row = conn.execute(query).first()
    return None if row is None else FlowLoad.from_row(row)


def add_load(
    conn: Connection, *, flow: str, seq: int, digest: str, policy_version: str, document: dict[str, Any], now: datetime
) -> None:
    """Insert the load numbered ``seq``; a process that recorded the same number first makes it raise
    ``IntegrityError`` (the primary key), so each change is recorded once."""
    conn.execute(
        insert(flow_loads).values(
            flow=flow, seq=seq, digest=digest, policy_version=policy_version, document=document, created_at=now
        )
    )


def policy_document(conn: Connection, version: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = conn.execute(
        select(policy_versions.c.document).where(policy_versions.c.version == version)
    ).scalar_one_or_none()
    return found
