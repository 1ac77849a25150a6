"""Claim, heartbeat, submit and release. Every lease check happens in the database, on its clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from signoff.audit import record
from signoff.config import Project
from signoff.domain import AuditEvent, CaseId, DecidedBy, Role, TaskId, TaskKind, TaskStatus, User
from signoff.errors import InvalidInput, LeaseRefused, NotFound, Problem, TaskClosed
from signoff.store import cases as case_store
from signoff.store import tasks as task_store
from signoff.store.database import Database, as_utc

MAX_COMMENT = 10_000


@dataclass(frozen=True)
class Claim:
    """A task leased to a reviewer until ``expires_at``; ``token`` must come back with every call."""

    task_id: TaskId
    case_id: CaseId
    flow: str
    queue: str
    token: int
    expires_at: datetime


@dataclass(frozen=True)
class Outcome:
    """The result of a submitted review: the review and the case's final decision."""

    review_id: int
    case_id: CaseId
    label: str
    decided_by: str
    replayed: bool


def claim(db: Database, user: User, *, flow: str | None = None, queue: str | None = None) -> Claim | None:
    """Lease the most urgent task this reviewer may take, or None if the queue is empty."""
    with db.transaction() as conn:
        row = task_store.claim(
            db,
            conn,
            reviewer=user.id,
            role=user.role.value,
            any_role=user.role is Role.ADMIN,
            flow=flow,
            queue=queue,
        )
        if row is None:
            return None
        result = Claim(
            TaskId(row.id),
            CaseId(row.case_id),
            row.flow,
            row.queue,
            row.lease_token,
            as_utc(row.lease_expires_at),
        )
        record(
            db,
            conn,
            [
                AuditEvent(
                    user.name,
                    "task.claimed",
                    "task",
                    str(row.id),
                    {
                        "case_id": row.case_id,
                        "token": row.lease_token,
                        "expires_at": result.expires_at.isoformat(),
                    },
                )
            ],
        )
    return result


def _refusal(conn: Connection, task_id: TaskId, token: int, user: User) -> Exception:
    """Say exactly why a fenced call was refused."""
    task = task_store.get(conn, task_id)
    if task is None:
        return NotFound("task", task_id)
    if task.status == TaskStatus.DONE.value:
        return TaskClosed(task_id)
    if token > task.lease_token:
        return LeaseRefused(task_id, token, "no such lease was ever issued for this task")
    if token < task.lease_token:
        return LeaseRefused(task_id, token, f"a newer lease (token {task.lease_token}) has replaced it")
    if task.status == TaskStatus.QUEUED.value:
        return LeaseRefused(task_id, token, "it was released")
    if task.lease_owner != user.id:
        return LeaseRefused(task_id, token, "it is not held by you")
    expiry = task.lease_expires_at
    return LeaseRefused(task_id, token, f"it expired at {expiry.isoformat() if expiry else 'an earlier time'}")


def heartbeat(db: Database, user: User, task_id: TaskId, token: int) -> datetime:
    """Extend a held lease by its TTL and return the new expiry."""
    with db.transaction() as conn:
        expires = task_store.extend(db, conn, task_id, token, user.id)
        if expires is None:
            raise _refusal(conn, task_id, token, user)
        record(
            db,
            conn,
            [
                AuditEvent(
                    user.name,
                    "lease.extended",
                    "task",
                    str(task_id),
                    {
                        "token": token,
                        "expires_at": expires.isoformat(),
                    },
                )
            ],
        )
    return expires


def release(db: Database, user: User, task_id: TaskId, token: int) -> None:
    """Give the task back to its queue."""
    with db.transaction() as conn:
        if task_store.release(db, conn, task_id, token, user.id) is None:
            raise _refusal(conn, task_id, token, user)
        record(db, conn, [AuditEvent(user.name, "task.released", "task", str(task_id), {"token": token})])


MAX_REASON = 1000


def skip(db: Database, user: User, task_id: TaskId, token: int, reason: str, unsure: bool = False) -> None:
    """Pass a task on (or mark it unsure) with a reason: it goes back one priority higher, and this reviewer
    is not offered it again."""
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        raise InvalidInput([Problem("reason", f"say why, in 1 to {MAX_REASON} characters")], "the skip is not valid")
    with db.transaction() as conn:
        if task_store.skip(db, conn, task_id, token, user.id, reason, unsure) is None:
            raise _refusal(conn, task_id, token, user)
        record(
            db,
            conn,
            [
                AuditEvent(
                    user.name,
                    "task.skipped",
                    "task",
                    str(task_id),
                    {
                        "token": token,
                        "reason": reason,
                        "unsure": unsure,
                    },
                )
            ],
        )


def _check_answer(project: Project, flow_name: str, label: Any, comment: Any) -> None:
    flow = project.flow(flow_name)
    problems = []
    if label not in flow.labels:
        problems.append(Problem("label", f"must be one of {list(flow.labels)}, got {label!r}"[:300]))
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
        problems.append(Problem("comment", f"must be text of at most {MAX_COMMENT} characters"))
    if problems:
        raise InvalidInput(problems, "the review is not valid")


def submit(
    db: Database, project: Project, user: User, task_id: TaskId, token: int, label: str, comment: str = ""
) -> Outcome:
    """Record the review and the case's decision, only while the caller's lease is live.

    Sending the same review again on the same lease returns the first result instead of failing, so a
    reviewer whose connection dropped after submitting can safely retry.
    """
    with db.transaction(write=False) as conn:
        task = task_store.get(conn, task_id)
    if task is None:
        raise NotFound("task", task_id)
    _check_answer(project, task.flow, label, comment)
    with db.transaction() as conn:
        completed = task_store.complete(db, conn, task_id, token, user.id)
        if completed is None:
            earlier = task_store.review_for(conn, task_id, token)
            if earlier is not None and (earlier.reviewer_id, earlier.label, earlier.comment) == (
                user.id,
                label,
                comment,
            ):
                if task.kind == TaskKind.AUDIT.value:  # the same answer the first submit gave
                    decision = case_store.decision_of(conn, CaseId(earlier.case_id))
                    return Outcome(earlier.id, CaseId(earlier.case_id), decision or label, DecidedBy.MODEL.value, True)
                return Outcome(earlier.id, CaseId(earlier.case_id), label, DecidedBy.REVIEWER.value, replayed=True)
            raise _refusal(conn, task_id, token, user)
        case_id = CaseId(task.case_id)
        review_id = task_store.insert_review(
            conn,
            {
                "task_id": task_id,
                "case_id": case_id,
                "reviewer_id": user.id,
                "lease_token": token,
                "label": label,
                "comment": comment,
                "created_at": completed,
            },
        )
        events = [
            AuditEvent(
                user.name,
                "review.submitted",
                "task",
                str(task_id),
                {
                    "case_id": case_id,
                    "token": token,
                    "review_id": review_id,
                    "label": label,
                    "comment": comment,
                },
            )
        ]
        if task.kind == TaskKind.AUDIT.value:
            # The model's decision stands (it was already acted on); the audit label measures the model.
            decision = case_store.decision_of(conn, case_id)
            events.append(
                AuditEvent(
                    user.name,
                    "case.audited",
                    "case",
                    str(case_id),
                    {
                        "label": label,
                        "model_label": decision,
                        "agrees": decision == label,
                        "review_id": review_id,
                    },
                )
            )
            record(db, conn, events)
            return Outcome(review_id, case_id, decision or label, DecidedBy.MODEL.value, replayed=False)
        case_store.insert_decisions(
            conn,
            [
                {
                    "case_id": case_id,
                    "label": label,
                    "decided_by": DecidedBy.REVIEWER.value,
                    "review_id": review_id,
                    "created_at": completed,
                }
            ],
        )
        case_store.mark_decided(conn, case_id, completed)
        events.append(
            AuditEvent(
                user.name,
                "case.decided",
                "case",
                str(case_id),
                {
                    "label": label,
                    "decided_by": DecidedBy.REVIEWER.value,
                    "review_id": review_id,
                },
            )
        )
        record(db, conn, events)
    return Outcome(review_id, case_id, label, DecidedBy.REVIEWER.value, replayed=False)
