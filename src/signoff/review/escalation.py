"""Escalation: a task due (or about to be) moves along its queue's chain; when the chain runs out, the
queue's default-safe action applies: hold it, decide a fixed label, or let the model decide and flag it.

Only tasks nobody holds are escalated: a reviewer working on a task past its due time is left to finish.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Connection

from signoff import lifecycle
from signoff.audit import record
from signoff.config import Flow, Project
from signoff.domain import AuditEvent, CaseId, DecidedBy, TaskId, TaskKind
from signoff.store import audit as audit_store
from signoff.store import cases as case_store
from signoff.store import tasks as task_store
from signoff.store.database import Database
from signoff.store.records import Task

ACTOR = audit_store.ESCALATION_ACTOR


@dataclass(frozen=True)
class Escalation:
    task_id: int
    flow: str
    from_queue: str
    to_queue: str | None
    action: str


def escalate(db: Database, project: Project, batch: int = 500) -> list[Escalation]:
    """One sweep: escalate every due task (up to ``batch``), each with its audit event, in one transaction."""
    lead = max((q.escalate_before for f in project.flows.values() for q in f.queues.values()), default=0.0)
    done: list[Escalation] = []
    with db.transaction() as conn:
        now = db.now(conn)
        events: list[AuditEvent] = []
        for task in task_store.due(conn, now + timedelta(seconds=lead), now, batch):
            flow = project.flows.get(task.flow)
            spec = flow.queues.get(task.queue) if flow is not None else None
            due = task.due_at
            if flow is None or spec is None or due is None or due > now + timedelta(seconds=spec.escalate_before):
                continue
            done.append(_one(db, conn, flow, task, now, events))
        record(db, conn, events)
    return done


def _one(db: Database, conn: Connection, flow: Flow, task: Task, now: datetime, events: list[AuditEvent]) -> Escalation:
    """Decide what becomes of one due task; ``lifecycle`` writes it."""
    spec = flow.queues[task.queue]
    assert task.due_at is not None, "only due tasks are escalated"
    due = lifecycle.Escalated(task.id, task.case_id, task.queue, task.due_at)
    if spec.escalate_to is not None:
        lifecycle.escalate(conn, flow, replace(due, to_queue=spec.escalate_to), now, ACTOR, events)
        return Escalation(task.id, flow.name, task.queue, spec.escalate_to, "escalated")
    action = spec.when_exhausted.action
    if action == "hold" or task.kind is TaskKind.AUDIT:  # an audited case is decided already
        lifecycle.escalate(conn, flow, due, now, ACTOR, events)
        return Escalation(task.id, flow.name, task.queue, None, "hold")
    label, model_version = case_store.predicted_label(conn, task.case_id)
    if action == "label" or label is None:  # the model cannot decide a case whose output was invalid
        label, decided_by = spec.when_exhausted.label, DecidedBy.DEFAULT_ACTION
        if label is None:
            why = "the model's output was invalid and no default label is set"
            lifecycle.escalate(conn, flow, replace(due, why=why), now, ACTOR, events)
            return Escalation(task.id, flow.name, task.queue, None, "hold")
    else:
        decided_by = DecidedBy.MODEL
    decision = lifecycle.Decision(
        CaseId(task.case_id),
        label,
        decided_by,
        now,
        TaskId(task.id),
        task.queue,
        model_version_id=model_version if decided_by is DecidedBy.MODEL else None,
        escalation_exhausted=True,
    )
    lifecycle.decide(db, conn, decision, ACTOR, events)
    return Escalation(task.id, flow.name, task.queue, None, action)
