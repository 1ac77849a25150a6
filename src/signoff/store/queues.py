"""Queue statistics: what a review lead watches. Plain aggregates over the open tasks and recent reviews."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, func, select, text

from signoff.store.database import Database
from signoff.store.records import QueueLoad, ReviewerLoad
from signoff.store.schema import OPEN_TASK, cases, reviews, tasks, users


def by_queue(
    db: Database, conn: Connection, now: datetime, risk_window: timedelta, flows: Collection[str] | None
) -> list[QueueLoad]:
    """Per flow and queue (of ``flows``; None: every flow) that has tasks: open tasks, how many are leased, the
    oldest, those due soon or overdue, and how many were completed in the last hour. The open tasks are counted
    through the open-task index (``ix_tasks_open``, whose condition is stated as written), the queues and their
    completions through ``ix_tasks_flow_queue_completed`` (named query ``queue_pairs``, then a range a queue):
    the views cost what is open and what was done in the hour, not the history."""
    leased = and_(tasks.c.status == "leased", tasks.c.lease_expires_at > now)
    query = (
        select(
            tasks.c.flow,
            tasks.c.queue,
            func.count().label("open"),
            func.count().filter(leased).label("leased"),
            func.min(tasks.c.created_at).label("oldest"),
            func.count().filter(tasks.c.due_at < now).label("overdue"),
            func.count().filter(and_(tasks.c.due_at >= now, tasks.c.due_at < now + risk_window)).label("at_risk"),
        )
        .where(text(OPEN_TASK))
        .group_by(tasks.c.flow, tasks.c.queue)
    )
    open_tasks = {(row.flow, row.queue): row for row in conn.execute(query)}
    wanted = None if flows is None else set(flows)
    since = now - timedelta(hours=1)
    found = []
    for pair in db.run(conn, "queue_pairs"):
        if wanted is not None and pair.flow not in wanted:
            continue
        recent = select(func.count()).where(
            tasks.c.flow == pair.flow, tasks.c.queue == pair.queue, tasks.c.completed_at >= since
        )
        done = int(conn.execute(recent).scalar_one())
        row = open_tasks.get((pair.flow, pair.queue))
        if row is None:
            found.append(QueueLoad(pair.flow, pair.queue, 0, 0, None, 0, 0, done))
        else:
            found.append(
                QueueLoad(pair.flow, pair.queue, row.open, row.leased, row.oldest, row.overdue, row.at_risk, done)
            )
    return found


def by_reviewer(conn: Connection, now: datetime) -> list[ReviewerLoad]:
    """Per reviewer: leases held now and reviews submitted in the last hour."""
    held = (
        select(tasks.c.lease_owner.label("user_id"), func.count().label("held"))
        .where(tasks.c.status == "leased", tasks.c.lease_expires_at > now)
        .group_by(tasks.c.lease_owner)
        .subquery()
    )
    recent = (
        select(reviews.c.reviewer_id.label("user_id"), func.count().label("reviews_last_hour"))
        .where(reviews.c.created_at >= now - timedelta(hours=1))
        .group_by(reviews.c.reviewer_id)
        .subquery()
    )
    query = (
        select(
            users.c.name,
            func.coalesce(held.c.held, 0).label("leases_held"),
            func.coalesce(recent.c.reviews_last_hour, 0).label("reviews_last_hour"),
        )
        .select_from(
            users.outerjoin(held, held.c.user_id == users.c.id).outerjoin(recent, recent.c.user_id == users.c.id)
        )
        .where((held.c.held.is_not(None)) | (recent.c.reviews_last_hour.is_not(None)))
        .order_by(users.c.name)
    )
    return [ReviewerLoad.from_row(row) for row in conn.execute(query)]


def totals(conn: Connection) -> tuple[int, int]:
    """How many cases are recorded, and how many tasks wait in a queue for a reviewer."""
    recorded = conn.execute(select(func.count()).select_from(cases)).scalar_one()
    queued = conn.execute(select(func.count()).select_from(tasks).where(tasks.c.status == "queued")).scalar_one()
    return int(recorded), int(queued)
