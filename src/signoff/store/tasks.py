"""Tasks, leases and reviews. The lease-changing statements are named SQL, judged by the database clock."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update

from signoff.domain import LeaseEnd, TaskId, TaskKind, TaskStatus, UserId
from signoff.store.database import Database, as_utc
from signoff.store.records import Claim, Lease, OpenTask, Review, Task, TaskToLabel
from signoff.store.schema import cases, leases, model_versions, predictions, reviews, task_skips, tasks, users


def _text_list(db: Database, values: Sequence[str]) -> Any:
    """A list parameter of a named query: an array on PostgreSQL, JSON text for SQLite's json_each."""
    return list(values) if db.dialect == "postgresql" else json.dumps(list(values))


def claim_query(
    db: Database,
    *,
    reviewer: UserId,
    reviewer_name: str,
    roles: Sequence[str],
    refused: Sequence[str] = (),
    blocked: Sequence[str] = (),
    flow: str | None = None,
    queue: str | None = None,
    task: TaskId | None = None,
) -> tuple[str, dict[str, Any]]:
    """The named claim query and its parameters (also what the plan checks EXPLAIN).
    ``roles`` are the task roles this reviewer may take; ``refused`` lists ``flow/role`` pairs among them they
    may not take on that flow (their roles differ from flow to flow); ``blocked`` lists ``flow/queue`` they may
    not work now. With ``task`` (and ``flow``), that one task on the same terms (``claim_this``)."""
    params: dict[str, Any] = {
        "reviewer": reviewer,
        "reviewer_name": reviewer_name,
        "roles": _text_list(db, roles),
        "refused": _text_list(db, refused),
        "blocked": _text_list(db, blocked),
        "flow": flow,
    }
    if task is not None:
        return "claim_this", params | {"task_id": task}
    name = "claim_task" if flow is not None and queue is not None else "claim_any"
    return name, params | {"queue": queue}


def claim(db: Database, conn: Connection, reviewer: UserId, query: tuple[str, dict[str, Any]]) -> Claim | None:
    """Lease the best open task (or one whose lease expired) by ``query`` (``claim_query``'s) and record the lease;
    None if there is none."""
    name, params = query
    rows = db.run(conn, name, **params)
    if not rows:
        return None
    claimed = Claim.from_row(rows[0])
    now = as_utc(rows[0].now)
    record_lease(db, conn, Lease(claimed.task_id, claimed.token, reviewer, now, claimed.expires_at, None, None))
    return claimed


def record_lease(db: Database, conn: Connection, lease: Lease) -> None:
    """Write the lease history row of a new lease, closing an older one that expired."""
    task_id, token, now = lease.task_id, lease.token, lease.acquired_at
    if token > 1:  # an older lease still open on this task has expired: close it before recording the new one
        db.run(conn, "close_expired_lease", task_id=task_id, token=token, now=now)
    db.run(
        conn,
        "start_lease",
        task_id=task_id,
        token=token,
        reviewer=lease.reviewer_id,
        now=now,
        expires_at=lease.expires_at,
    )


def _fenced(
    db: Database, conn: Connection, name: str, task_id: TaskId, token: int, reviewer: UserId
) -> datetime | None:
    rows = db.run(conn, name, task_id=task_id, token=token, reviewer=reviewer)
    return as_utc(rows[0].now) if rows else None


def extend(db: Database, conn: Connection, task_id: TaskId, token: int, reviewer: UserId) -> datetime | None:
    """Push the lease's expiry out by its TTL; None if the lease is not held any more."""
    rows = db.run(conn, "extend_lease", task_id=task_id, token=token, reviewer=reviewer)
    if not rows:
        return None
    expires = as_utc(rows[0].lease_expires_at)
    conn.execute(update(leases).where(leases.c.task_id == task_id, leases.c.token == token).values(expires_at=expires))
    return expires


def complete(db: Database, conn: Connection, task_id: TaskId, token: int, reviewer: UserId) -> Task | None:
    """Close the task on a live lease; the closed task (``completed_at`` is the database's time of it), or None if
    the lease is not live."""
    rows = db.run(conn, "complete_task", task_id=task_id, token=token, reviewer=reviewer)
    if not rows:
        return None
    task = Task.from_row(rows[0])
    assert task.completed_at is not None
    _lease_ended(db, conn, task_id, token, task.completed_at, LeaseEnd.SUBMITTED)
    return task


def release(db: Database, conn: Connection, task_id: TaskId, token: int, reviewer: UserId) -> datetime | None:
    return _end(db, conn, "release_task", LeaseEnd.RELEASED, task_id, token, reviewer)


def skip(
    db: Database, conn: Connection, task_id: TaskId, token: int, reviewer: UserId, reason: str, unsure: bool
) -> datetime | None:
    """Give the task back one priority higher and remember that this reviewer passed on it."""
    now = _end(db, conn, "skip_task", LeaseEnd.SKIPPED, task_id, token, reviewer)
    if now is not None:
        conn.execute(
            insert(task_skips).values(
                task_id=task_id, reviewer_id=reviewer, token=token, unsure=unsure, reason=reason, created_at=now
            )
        )
    return now


def _end(
    db: Database, conn: Connection, name: str, reason: LeaseEnd, task_id: TaskId, token: int, reviewer: UserId
) -> datetime | None:
    now = _fenced(db, conn, name, task_id, token, reviewer)
    if now is not None:
        _lease_ended(db, conn, task_id, token, now, reason)
    return now


def _lease_ended(db: Database, conn: Connection, task_id: int, token: int, now: datetime, reason: LeaseEnd) -> None:
    db.run(conn, "end_lease", task_id=task_id, token=token, now=now, reason=reason.value)


def get(conn: Connection, task_id: int) -> Task | None:
    row = conn.execute(select(tasks).where(tasks.c.id == task_id)).first()
    return None if row is None else Task.from_row(row)


_REVIEW_COLUMNS = tuple(f.name for f in fields(Review) if f.name != "id")  # what ``insert_review`` writes


def insert_review(db: Database, conn: Connection, review: Review) -> int:
    """Record a review (its ``id`` is not written); its id."""
    row = {name: getattr(review, name) for name in _REVIEW_COLUMNS}
    return int(db.run(conn, "insert_review", **row)[0].id)


def review_for(conn: Connection, task_id: int, token: int) -> Review | None:
    query = select(reviews).where(reviews.c.task_id == task_id, reviews.c.lease_token == token)
    row = conn.execute(query).first()
    return None if row is None else Review.from_row(row)


def page(
    conn: Connection,
    *,
    flows: Collection[str] | None,
    queue: str | None,
    status: str | None,
    after: int,
    limit: int,
) -> list[Task]:
    """Tasks (of ``flows``; None: every flow) by id, keyset-paginated: ``after`` is the last id of the previous
    page."""
    query = select(tasks).where(tasks.c.id > after).order_by(tasks.c.id).limit(limit)
    if flows is not None:
        query = query.where(tasks.c.flow.in_(sorted(flows)))
    if queue is not None:
        query = query.where(tasks.c.queue == queue)
    if status is not None:
        query = query.where(tasks.c.status == status)
    return [Task.from_row(row) for row in conn.execute(query)]


def due(conn: Connection, horizon: datetime, now: datetime, limit: int) -> list[Task]:
    """Open tasks nobody holds (queued, or with an expired lease) that are due by ``horizon``, earliest first.
    Locked for this transaction; other sweepers skip them."""
    query = (
        select(tasks)
        .where(
            tasks.c.status != TaskStatus.DONE.value,
            tasks.c.due_at <= horizon,
            (tasks.c.status == TaskStatus.QUEUED.value) | (tasks.c.lease_expires_at < now),
        )
        .order_by(tasks.c.due_at, tasks.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [Task.from_row(row) for row in conn.execute(query)]


def move(conn: Connection, task_id: int, queue: str, role: str, due_at: datetime | None) -> None:
    conn.execute(update(tasks).where(tasks.c.id == task_id).values(queue=queue, role=role, due_at=due_at))


def hold(conn: Connection, task_id: int) -> None:
    """Keep the task open with no due time, so it is escalated once, not at every sweep."""
    conn.execute(update(tasks).where(tasks.c.id == task_id).values(due_at=None))


def close(conn: Connection, task_id: int, now: datetime) -> None:
    conn.execute(
        update(tasks)
        .where(tasks.c.id == task_id)
        .values(status=TaskStatus.DONE.value, completed_at=now, lease_owner=None, lease_expires_at=None)
    )


def assign(conn: Connection, task_id: int, assignee: UserId | None) -> None:
    conn.execute(update(tasks).where(tasks.c.id == task_id).values(assignee=assignee))


def held_by(conn: Connection, user_id: UserId) -> list[Task]:
    """The open tasks leased by or assigned to this user."""
    query = select(tasks).where(
        tasks.c.status != TaskStatus.DONE.value, or_(tasks.c.lease_owner == user_id, tasks.c.assignee == user_id)
    )
    return [Task.from_row(row) for row in conn.execute(query.order_by(tasks.c.id))]


def live_leases(db: Database, conn: Connection, reviewer: UserId) -> list[Claim]:
    """The leases ``reviewer`` holds now, by the database clock, oldest task first."""
    query = (
        select(tasks)
        .where(
            tasks.c.status == TaskStatus.LEASED.value,
            tasks.c.lease_owner == reviewer,
            tasks.c.lease_expires_at > db.now(conn),
        )
        .order_by(tasks.c.id)
    )
    return [claim_of(Task.from_row(row)) for row in conn.execute(query)]


def claim_of(task: Task) -> Claim:
    """The claim of a leased task: what its holder needs to work it."""
    assert task.lease_expires_at is not None
    return Claim(task.id, task.case_id, task.flow, task.queue, task.kind, task.lease_token, task.lease_expires_at)


def unassign_case(conn: Connection, case_id: int, assignee: UserId) -> int:
    """Free the open tasks of a case reserved for ``assignee``; how many."""
    result = conn.execute(
        update(tasks)
        .where(tasks.c.case_id == case_id, tasks.c.assignee == assignee, tasks.c.status != TaskStatus.DONE.value)
        .values(assignee=None)
    )
    return result.rowcount


def open_in_claim_order(
    conn: Connection, now: datetime, limit: int, flows: Collection[str] | None = None
) -> list[OpenTask]:
    """The first ``limit`` open tasks (of ``flows``; None: every flow) in the order claims serve them (best
    priority, earliest due, oldest: the ``ix_tasks_open_any`` order), with the name of their assignee and of
    whoever holds a live lease on them."""
    assignee, holder = users.alias("assignee_user"), users.alias("holder_user")
    live = and_(tasks.c.status == "leased", tasks.c.lease_expires_at > now, holder.c.id == tasks.c.lease_owner)
    query = (
        select(
            tasks.c.id,
            tasks.c.case_id,
            tasks.c.flow,
            tasks.c.queue,
            tasks.c.role,
            tasks.c.kind,
            tasks.c.priority,
            tasks.c.created_at,
            tasks.c.due_at,
            assignee.c.name.label("assignee"),
            holder.c.name.label("holder"),
        )
        .select_from(tasks.outerjoin(assignee, assignee.c.id == tasks.c.assignee).outerjoin(holder, live))
        .where(tasks.c.status != "done")
        .order_by(tasks.c.priority.desc(), tasks.c.due_at.is_(None), tasks.c.due_at, tasks.c.id)
        .limit(limit)
    )
    if flows is not None:
        query = query.where(tasks.c.flow.in_(sorted(flows)))
    return [OpenTask.from_row(row) for row in conn.execute(query)]


def to_label(
    conn: Connection, flow: str, queue: str | None, kinds: Collection[TaskKind], after: int, limit: int
) -> list[TaskToLabel]:
    """The flow's open tasks of ``kinds`` (of ``queue``; None: every queue) by id after ``after``, at most
    ``limit``, each with its case's fields and the case's latest prediction (a promotion re-scores open cases)."""
    of_case = predictions.alias("of_case")
    latest = select(func.max(of_case.c.id)).where(of_case.c.case_id == tasks.c.case_id).scalar_subquery()
    query = (
        select(
            tasks.c.id.label("task_id"),
            *(tasks.c[name] for name in ("case_id", "flow", "queue", "kind")),
            *(cases.c[name] for name in ("external_id", "fields")),
            *(predictions.c[name] for name in ("label", "confidence")),
            model_versions.c.version.label("model_version"),
        )
        .select_from(
            tasks.join(cases, cases.c.id == tasks.c.case_id)
            .outerjoin(predictions, predictions.c.id == latest)
            .outerjoin(model_versions, model_versions.c.id == predictions.c.model_version_id)
        )
        .where(
            tasks.c.flow == flow,
            tasks.c.status != TaskStatus.DONE.value,
            tasks.c.kind.in_(sorted(kind.value for kind in kinds)),
            tasks.c.id > after,
        )
        .order_by(tasks.c.id)
        .limit(limit)
    )
    if queue is not None:
        query = query.where(tasks.c.queue == queue)
    return [TaskToLabel.from_row(row) for row in conn.execute(query)]
