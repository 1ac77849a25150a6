"""The one owner of a case's tasks and decision: every task row and decision row is written here, with its audit
data, so that intake, review and escalation (and later the learning loop) cannot disagree on what a task or a
decision holds. Rows are built for whole sequences at once: intake's batches stay a few bulk statements.

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


@dataclass(frozen=True)
class OpenedTask:
    """A task as it was opened: queued, or (a gold task) leased at once to its reviewer."""

    task_id: TaskId
    case_id: CaseId
    flow: str
    queue: str
    role: str
    kind: TaskKind
    priority: int
    status: TaskStatus
    created_at: datetime
    due_at: datetime | None
    lease_token: int = 0
    lease_expires_at: datetime | None = None


@dataclass(frozen=True)
class Decision:
    """A case's one decision. ``task_id``/``queue`` name the task whose work decided it (None for the model at
    intake), ``review_id`` the deciding review, ``model_version_id`` the deciding model version;
    ``escalation_exhausted`` says the queue's default-safe action decided because its escalation chain ran out."""

    case_id: CaseId
    label: str
    decided_by: DecidedBy
    decided_at: datetime
    task_id: TaskId | None = None
    queue: str | None = None
    review_id: int | None = None
    model_version_id: int | None = None
    escalation_exhausted: bool = False

    def audit_data(self) -> dict[str, Any]:
        """The one shape of a decision in the audit trail: the data of ``case.decided`` and of the ``decision``
        inside ``case.submitted`` (a model decision at intake)."""
        return {
            "label": self.label,
            "decided_by": self.decided_by.value,
            "task_id": self.task_id,
            "queue": self.queue,
            "review_id": self.review_id,
            "model_version_id": self.model_version_id,
            "escalation_exhausted": self.escalation_exhausted,
        }


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


def due_at(spec: QueueSpec, now: datetime, sla: float | None = None) -> datetime | None:
    """When a task opened (or moved) into a queue at ``now`` is due: its own SLA, else the queue's; None if neither."""
    seconds = sla if sla is not None else spec.sla
    return now + timedelta(seconds=seconds) if seconds is not None else None


@dataclass(frozen=True)
class _Opening:
    case_id: CaseId
    queue: str
    kind: TaskKind
    priority: int
    role: str | None = None
    sla: float | None = None
    lease_owner: UserId | None = None
    lease_expires_at: datetime | None = None
    timed: bool = True  # False: never due (an exploration task: nobody waits for its answer)

    @property
    def status(self) -> TaskStatus:
        return TaskStatus.QUEUED if self.lease_owner is None else TaskStatus.LEASED


def _open(conn: Connection, flow: Flow, openings: Sequence[_Opening], now: datetime) -> list[OpenedTask]:
    """Insert the tasks in one statement; the queue's config gives role, lease TTL and due time."""
    rows = []
    for o in openings:
        spec = flow.queues[o.queue]
        row: dict[str, Any] = {
            "case_id": o.case_id,
            "flow": flow.name,
            "queue": o.queue,
            "role": o.role or spec.role,
            "priority": o.priority,
            "status": o.status.value,
            "lease_token": 0 if o.lease_owner is None else 1,
            "lease_ttl": spec.lease_ttl,
            "created_at": now,
            "kind": o.kind.value,
            "due_at": due_at(spec, now, o.sla) if o.timed else None,
        }
        if o.lease_owner is not None:
            row |= {"lease_owner": o.lease_owner, "lease_expires_at": o.lease_expires_at}
        rows.append(row)
    ids = case_store.insert_tasks(conn, rows)
    return [
        OpenedTask(
            TaskId(i),
            o.case_id,
            flow.name,
            o.queue,
            r["role"],
            o.kind,
            o.priority,
            o.status,
            now,
            r["due_at"],
            r["lease_token"],
            o.lease_expires_at,
        )
        for o, r, i in zip(openings, rows, ids, strict=True)
    ]


def open_routed(
    conn: Connection, flow: Flow, routed: Sequence[tuple[CaseId, Route]], now: datetime
) -> list[OpenedTask]:
    """The tasks of newly routed cases: as many review tasks as the queue's consensus asks for, one audit task for
    an audit draw, none for a case the model decides alone. In the order of ``routed``."""
    openings = []
    for case_id, route in routed:
        if route.verdict is Verdict.AUTO:
            continue
        queue = route.queue or flow.default_queue
        review = route.verdict is Verdict.REVIEW
        copies = flow.queues[queue].consensus.reviews if review else 1
        kind = TaskKind.REVIEW if review else TaskKind.AUDIT
        openings += [_Opening(case_id, queue, kind, route.priority, route.role, route.sla)] * copies
    return _open(conn, flow, openings, now)


def open_gold(
    db: Database, conn: Connection, flow: Flow, queue: str, case_id: CaseId, reviewer: UserId, now: datetime
) -> OpenedTask:
    """A gold task on a gold case, leased at once (token 1) to the reviewer it is served to."""
    return _open_leased(db, conn, flow, _Opening(case_id, queue, TaskKind.GOLD, 0), reviewer, now)


EXPLORE_PRIORITY = -10_000  # released, an exploration task waits behind every other task (priorities >= -1000)


def open_exploration(
    db: Database, conn: Connection, flow: Flow, queue: str, case_id: CaseId, reviewer: UserId, now: datetime
) -> OpenedTask:
    """An exploration task on a case the model decided alone, leased at once (token 1) to the reviewer with spare
    capacity it is offered to. Never due: nobody waits for it, and no escalation may decide the case."""
    opening = _Opening(case_id, queue, TaskKind.EXPLORE, EXPLORE_PRIORITY, timed=False)
    return _open_leased(db, conn, flow, opening, reviewer, now)


def _open_leased(
    db: Database, conn: Connection, flow: Flow, opening: _Opening, reviewer: UserId, now: datetime
) -> OpenedTask:
    expires = now + timedelta(seconds=flow.queues[opening.queue].lease_ttl)
    (task,) = _open(conn, flow, [replace(opening, lease_owner=reviewer, lease_expires_at=expires)], now)
    task_store.record_lease(db, conn, task.task_id, task.lease_token, reviewer, now, expires)
    return task


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
) -> OpenedTask:
    """The task that settles reviewers who disagreed, ahead of their queue (priority + 100); appends
    ``case.disputed`` with the answers to ``events``."""
    (task,) = _open(conn, flow, [_Opening(case_id, queue, TaskKind.ADJUDICATION, priority + 100)], now)
    data = {"answers": answers, "adjudication_task": task.task_id, "queue": queue}
    events.append(AuditEvent(actor, "case.disputed", "case", str(case_id), data))
    return task


def decide_by_model(
    conn: Connection, labels: Sequence[tuple[CaseId, str]], model_version_id: int, now: datetime
) -> list[Decision]:
    """The model's decisions on cases recorded as decided at intake, in one statement. Their audit data travels
    inside each case's ``case.submitted`` event (``Decision.audit_data``), one event per case."""
    decisions = [Decision(c, label, DecidedBy.MODEL, now, model_version_id=model_version_id) for c, label in labels]
    case_store.insert_decisions(
        conn,
        [
            {
                "case_id": d.case_id,
                "label": d.label,
                "decided_by": d.decided_by.value,
                "model_version_id": d.model_version_id,
                "created_at": now,
            }
            for d in decisions
        ],
    )
    return decisions


def decide(db: Database, conn: Connection, decision: Decision, actor: str, events: list[AuditEvent]) -> Decision:
    """Record a case's decision after intake (by a review, or by escalation's default action, which also closes the
    task nobody reviewed), mark the case decided, and append ``case.decided`` to ``events``."""
    if decision.escalation_exhausted:
        assert decision.task_id is not None, "escalation decides through a task"
        task_store.close(conn, decision.task_id, decision.decided_at)
    case_store.decide(
        db,
        conn,
        decision.case_id,
        decision.label,
        decision.decided_by.value,
        decision.decided_at,
        review_id=decision.review_id,
        model_version_id=decision.model_version_id,
    )
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
