"""The one owner of a case's tasks and decision: every task row and decision row is written here, with its audit
data, so that intake, review and escalation (and later the learning loop) cannot disagree on what a task or a
decision holds. Rows are built for whole sequences at once: intake's batches stay a few bulk statements. What it
opens and decides it returns as the store's records (``Task``, ``Decision``), the same that reading them back gives.

The callers decide (a route, a review, an escalation) and hand the decision over as a frozen record; the functions
here write it and append its audit event, in one shape per record (``audit_data``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from signoff.config import Flow, QueueSpec
from signoff.domain import AuditEvent, CaseId, DecidedBy, TaskId, TaskKind, TaskStatus, UserId, Verdict
from signoff.routing import Route
from signoff.store import cases as case_store
from signoff.store import tasks as task_store
from signoff.store.database import Database
from signoff.store.records import Decision, Lease, Task

__all__ = [
    "Decision",
    "Escalated",
    "decide",
    "decide_by_model",
    "due_at",
    "escalate",
    "open_adjudication",
    "open_exploration",
    "open_gold",
    "open_routed",
]


def due_at(spec: QueueSpec, now: datetime, sla: float | None = None) -> datetime | None:
    """When a task opened (or moved) into a queue at ``now`` is due: its own SLA, else the queue's; None if neither."""
    seconds = sla if sla is not None else spec.sla
    return now + timedelta(seconds=seconds) if seconds is not None else None


@dataclass(frozen=True)
class Escalated:
    """What escalation does to a task due and held by nobody: move it on to the next queue of its chain
    (``to_queue``), or, when the chain has run out, hold it where it is (``to_queue`` None); ``why`` says why a
    hold was not the queue's own choice. ``due_at`` is when the task was due in ``from_queue``."""

    task_id: TaskId
    case_id: CaseId
    from_queue: str
    due_at: datetime
    to_queue: str | None = None
    why: str | None = None

    @property
    def action(self) -> str:
        """The audit action: ``task.escalated`` for a move, ``task.held`` for a hold."""
        return "task.held" if self.to_queue is None else "task.escalated"

    def audit_data(self) -> dict[str, Any]:
        """The data of ``task.escalated`` (with ``to_queue``) and ``task.held`` (with ``action`` and, when given,
        ``why``)."""
        data: dict[str, Any] = {
            "case_id": self.case_id,
            "from_queue": self.from_queue,
            "due_at": self.due_at.isoformat(),
        }
        if self.to_queue is not None:
            return data | {"to_queue": self.to_queue}
        return data | {"action": "hold"} | ({"why": self.why} if self.why is not None else {})


def _queued(
    flow: Flow,
    case_id: CaseId,
    queue: str,
    kind: TaskKind,
    priority: int,
    now: datetime,
    role: str | None = None,
    sla: float | None = None,
) -> Task:
    """A task to open, queued; the queue's config gives its role (unless the route names one), lease TTL and due
    time. Its id is given by the insert (``store.cases.insert_tasks``)."""
    spec = flow.queues[queue]
    return Task(
        id=TaskId(0),
        case_id=case_id,
        flow=flow.name,
        queue=queue,
        role=role or spec.role,
        priority=priority,
        status=TaskStatus.QUEUED,
        lease_token=0,
        lease_owner=None,
        lease_expires_at=None,
        lease_ttl=spec.lease_ttl,
        created_at=now,
        completed_at=None,
        kind=kind,
        due_at=due_at(spec, now, sla),
        assignee=None,
    )


def open_routed(conn: Connection, flow: Flow, routed: Sequence[tuple[CaseId, Route]], now: datetime) -> list[Task]:
    """The tasks of newly routed cases: as many review tasks as the queue's consensus asks for, one audit task for
    an audit draw, none for a case the model decides alone. In the order of ``routed``."""
    opening = []
    for case_id, route in routed:
        if route.verdict is Verdict.AUTO:
            continue
        queue = route.queue or flow.default_queue
        review = route.verdict is Verdict.REVIEW
        copies = flow.queues[queue].consensus.reviews if review else 1
        kind = TaskKind.REVIEW if review else TaskKind.AUDIT
        opening += [_queued(flow, case_id, queue, kind, route.priority, now, route.role, route.sla)] * copies
    return case_store.insert_tasks(conn, opening)


def open_gold(
    db: Database, conn: Connection, flow: Flow, queue: str, case_id: CaseId, reviewer: UserId, now: datetime
) -> Task:
    """A gold task on a gold case, leased at once (token 1) to the reviewer it is served to."""
    return _leased(db, conn, _queued(flow, case_id, queue, TaskKind.GOLD, 0, now), reviewer, now)


EXPLORE_PRIORITY = -10_000  # released, an exploration task waits behind every other task (priorities >= -1000)


def open_exploration(
    db: Database, conn: Connection, flow: Flow, queue: str, case_id: CaseId, reviewer: UserId, now: datetime
) -> Task:
    """An exploration task on a case the model decided alone, leased at once (token 1) to the reviewer with spare
    capacity it is offered to. Never due: nobody waits for it, and no escalation may decide the case."""
    explore = replace(_queued(flow, case_id, queue, TaskKind.EXPLORE, EXPLORE_PRIORITY, now), due_at=None)
    return _leased(db, conn, explore, reviewer, now)


def _leased(db: Database, conn: Connection, task: Task, reviewer: UserId, now: datetime) -> Task:
    """Open ``task`` leased to ``reviewer`` (token 1) for its queue's lease TTL, with its lease recorded."""
    expires = now + timedelta(seconds=task.lease_ttl)
    leased = replace(task, status=TaskStatus.LEASED, lease_token=1, lease_owner=reviewer, lease_expires_at=expires)
    (opened,) = case_store.insert_tasks(conn, [leased])
    task_store.record_lease(db, conn, Lease(opened.id, opened.lease_token, reviewer, now, expires, None, None))
    return opened


def open_adjudication(
    conn: Connection,
    flow: Flow,
    case_id: CaseId,
    queue: str,
    priority: int,
    answers: dict[str, int],
    actor: str,
    now: datetime,
    events: list[AuditEvent],
) -> Task:
    """The task that settles reviewers who disagreed, ahead of their queue (priority + 100); appends
    ``case.disputed`` with the answers to ``events``."""
    (task,) = case_store.insert_tasks(conn, [_queued(flow, case_id, queue, TaskKind.ADJUDICATION, priority + 100, now)])
    data = {"answers": answers, "adjudication_task": task.id, "queue": queue}
    events.append(AuditEvent(actor, "case.disputed", "case", str(case_id), data))
    return task


def decide_by_model(
    conn: Connection, labels: Sequence[tuple[CaseId, str]], model_version_id: int, now: datetime
) -> list[Decision]:
    """The model's decisions on cases recorded as decided at intake, in one statement. Their audit data travels
    inside each case's ``case.submitted`` event (``Decision.audit_data``), one event per case."""
    decisions = [Decision(c, label, DecidedBy.MODEL, now, model_version_id=model_version_id) for c, label in labels]
    case_store.insert_decisions(conn, decisions)
    return decisions


def decide(db: Database, conn: Connection, decision: Decision, actor: str, events: list[AuditEvent]) -> Decision:
    """Record a case's decision after intake (by a review, or by escalation's default action, which also closes the
    task nobody reviewed), mark the case decided, and append ``case.decided`` to ``events``."""
    if decision.escalation_exhausted:
        assert decision.task_id is not None, "escalation decides through a task"
        task_store.close(conn, decision.task_id, decision.created_at)
    case_store.decide(db, conn, decision)
    events.append(AuditEvent(actor, "case.decided", "case", str(decision.case_id), decision.audit_data()))
    return decision


def escalate(
    conn: Connection, flow: Flow, escalated: Escalated, now: datetime, actor: str, events: list[AuditEvent]
) -> Escalated:
    """Move a due task on to ``escalated.to_queue``, with that queue's role and a due time from its SLA, or hold it
    (no due time, so that it is escalated once, not at every sweep); append its event to ``events``."""
    if escalated.to_queue is None:
        task_store.hold(conn, escalated.task_id)
    else:
        target = flow.queues[escalated.to_queue]
        task_store.move(conn, escalated.task_id, escalated.to_queue, target.role, due_at(target, now))
    events.append(AuditEvent(actor, escalated.action, "task", str(escalated.task_id), escalated.audit_data()))
    return escalated
