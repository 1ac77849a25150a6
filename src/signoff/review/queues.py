"""The queue views a review lead needs: depth, age, SLA risk, throughput and per-reviewer load."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from signoff.store import queues as store
from signoff.store.database import Database


@dataclass(frozen=True)
class Overview:
    at: datetime
    risk_window: float
    queues: list[dict[str, Any]]
    reviewers: list[dict[str, Any]]


def overview(db: Database, *, flow: str | None = None, risk_window: float = 900.0) -> Overview:
    """Queues and reviewers now, by the database clock; a task is at risk when due within ``risk_window`` s."""
    with db.transaction(write=False) as conn:
        now = db.now(conn)
        queues = store.by_queue(conn, now, timedelta(seconds=risk_window), flow)
        reviewers = store.by_reviewer(conn, now)
    for row in queues:
        oldest = row["oldest"]
        if isinstance(oldest, str):  # SQLite returns MIN() over timestamps as text
            oldest = datetime.fromisoformat(oldest).replace(tzinfo=now.tzinfo)
        row["oldest"] = oldest
        row["oldest_age_seconds"] = (now - oldest).total_seconds() if oldest is not None else None
    return Overview(now, risk_window, queues, reviewers)
