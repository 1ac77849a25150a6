"""Claim, heartbeat, submit and release. Every lease check happens in the database, on its clock."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
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
    kind: str
    token: int
    expires_at: datetime


@dataclass(frozen=True)
class Outcome:
    """The result of a submitted review: the review and the case's final decision."""

    review_id: int
    case_id: CaseId
    label: str | None
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
            row.kind,
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
        outcome = _settle(db, conn, project, task, user, review_id, label, completed, events)
        record(db, conn, events)
    return outcome


def _settle(
    db: Database,
    conn: Connection,
    project: Project,
    task: Any,
    user: User,
    review_id: int,
    label: str,
    now: datetime,
    events: list[AuditEvent],
) -> Outcome:
    """Decide the case when its answers are in: a lone review or an adjudication decides; consensus reviews
    decide once all are in and agree, and a disagreement goes to adjudication."""
    case_id = CaseId(task.case_id)
    flow = project.flow(task.flow)
    consensus = flow.queues[task.queue].consensus if task.queue in flow.queues else None
    if task.kind == TaskKind.ADJUDICATION.value:
        return _decide(conn, user, case_id, review_id, label, DecidedBy.ADJUDICATION, now, events)
    if consensus is None or consensus.reviews == 1:
        return _decide(conn, user, case_id, review_id, label, DecidedBy.REVIEWER, now, events)
    case_store.lock(conn, case_id)  # the last of concurrent submits must see all the others
    answers = case_store.consensus_answers(conn, case_id)
    if any(a is None for a in answers):
        return Outcome(review_id, case_id, None, "pending", replayed=False)
    counts = Counter(a for a in answers if a is not None)
    top, votes = counts.most_common(1)[0]
    agreed = votes == len(answers) if consensus.agreement == "unanimous" else votes * 2 > len(answers)
    if agreed:
        return _decide(conn, user, case_id, review_id, top, DecidedBy.CONSENSUS, now, events)
    assert consensus.adjudicate_in is not None
    target = flow.queues[consensus.adjudicate_in]
    (adjudication,) = case_store.insert_tasks(
        conn,
        [
            {
                "case_id": case_id,
                "flow": flow.name,
                "queue": consensus.adjudicate_in,
                "role": target.role,
                "priority": task.priority + 100,
                "status": TaskStatus.QUEUED.value,
                "lease_token": 0,
                "lease_ttl": target.lease_ttl,
                "created_at": now,
                "kind": TaskKind.ADJUDICATION.value,
                "due_at": now + timedelta(seconds=target.sla) if target.sla is not None else None,
            }
        ],
    )
    events.append(
        AuditEvent(
            user.name,
            "case.disputed",
            "case",
            str(case_id),
            {
                "answers": dict(counts),
                "adjudication_task": adjudication,
                "queue": consensus.adjudicate_in,
            },
        )
    )
    return Outcome(review_id, case_id, None, "pending", replayed=False)


def _decide(
    conn: Connection,
    user: User,
    case_id: CaseId,
    review_id: int,
    label: str,
    by: DecidedBy,
    now: datetime,
    events: list[AuditEvent],
) -> Outcome:
    case_store.insert_decisions(
        conn,
        [
            {
                "case_id": case_id,
                "label": label,
                "decided_by": by.value,
                "review_id": review_id,
                "created_at": now,
            }
        ],
    )
    case_store.mark_decided(conn, case_id, now)
    events.append(
        AuditEvent(
            user.name,
            "case.decided",
            "case",
            str(case_id),
            {
                "label": label,
                "decided_by": by.value,
                "review_id": review_id,
            },
        )
    )
    return Outcome(review_id, case_id, label, by.value, replayed=False)
