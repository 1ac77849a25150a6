"""The review floor as a lead sees it on one page: queues, each reviewer's load, quality, pauses and fatigue, the
latest escalations, and the open tasks a lead may assign. Read only; the changes are in ``signoff.review.leads``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from signoff import users
from signoff.config import Project
from signoff.config.flows import Workload
from signoff.domain import User
from signoff.review import workload
from signoff.review.queues import overview, reviewers
from signoff.store import audit as audit_store
from signoff.store import cases as case_store
from signoff.store import reviewers as people
from signoff.store import tasks as task_store
from signoff.store import users as user_store
from signoff.store.database import Database
from signoff.store.records import GoldAccuracy, OpenTask, Pause, QueueLoad, RecordedEvent

TASKS_SHOWN = 50
ESCALATIONS_SHOWN = 20


@dataclass(frozen=True)
class Fatigue:
    """A reviewer's state against the workload limits: ``limited`` when their next claim would be refused (by
    ``limit``), and a sentence that says why or how they stand."""

    limited: bool
    limit: str | None
    text: str


@dataclass(frozen=True)
class Person:
    """One user who may review the lead's flows: roles there, skills, load, gold accuracy, agreement with the
    final decisions, open pauses and fatigue."""

    id: int
    name: str
    role: str
    skills: list[str]
    leases_held: int
    reviews_last_hour: int
    gold: list[GoldAccuracy]
    agreement_cases: int
    kappa_with_decision: float | None
    pauses: list[Pause]
    fatigue: Fatigue


@dataclass(frozen=True)
class Escalation:
    """An escalation audit event as the floor lists it: when, which task and case, from which queue, and what
    happened."""

    at: datetime
    task_id: int | None
    case_id: int | None
    from_queue: str | None
    action: str
    what: str


@dataclass(frozen=True)
class Floor:
    at: datetime
    risk_window: float
    limits: Workload
    queues: list[QueueLoad]
    reviewers: list[Person]
    escalations: list[Escalation]
    tasks: list[OpenTask]
    tasks_shown: int


def floor(
    db: Database,
    project: Project,
    lead: User,
    *,
    risk_window: float = 900.0,
    tasks: int = TASKS_SHOWN,
    escalations: int = ESCALATIONS_SHOWN,
) -> Floor:
    """Everything the lead page shows of the flows ``lead`` leads, by the database clock. Every user who may
    review one of them is listed, busy or not, so that a lead can assign work to someone idle."""
    flows = users.scope(lead, "assign")
    view = overview(db, flows=flows, risk_window=risk_window)
    quality = reviewers(db, flows=flows)
    limits = project.workload
    with db.transaction(write=False) as conn:
        now = db.now(conn)
        team = [
            person
            for person in user_store.list_users(conn)
            if any(users.may(person, "review", f) for f in (project.flows if flows is None else flows))
        ]
        team.sort(key=lambda p: p.name)
        skills = people.skills_of(conn, [p.id for p in team])
        since = now - max(workload.lookback(limits), workload.HOUR)
        times = people.review_times(conn, [p.id for p in team], since)
        events = [escalation(e) for e in audit_store.escalations(conn, escalations)]
        if flows is not None:
            case_flows = case_store.flows_of(conn, [e.case_id for e in events if e.case_id is not None])
            events = [e for e in events if e.case_id is not None and case_flows.get(e.case_id) in flows]
        open_tasks = task_store.open_in_claim_order(conn, now, tasks, flows)

    agreement = {(q.flow, q.queue): q for q in quality.agreement.queues}
    queues = [
        replace(q, agreement_cases=found.cases, krippendorff_alpha=found.krippendorff_alpha)
        if (found := agreement.get((q.flow, q.queue)))
        else q
        for q in view.queues
    ]

    load = {r.name: r for r in view.reviewers}
    kappa = {r.reviewer: r for r in quality.agreement.reviewers}
    gold: dict[str, list[GoldAccuracy]] = defaultdict(list)
    for row in quality.gold:
        gold[row.reviewer].append(row)
    paused: dict[str, list[Pause]] = defaultdict(list)
    for pause in quality.pauses:
        paused[pause.reviewer].append(pause)
    roster = []
    for person in team:
        name, busy, agreed = person.name, load.get(person.name), kappa.get(person.name)
        held = busy.leases_held if busy else 0
        roster.append(
            Person(
                id=person.id,
                name=name,
                role=_roles_on(person, flows),
                skills=skills.get(person.id, []),
                leases_held=held,
                reviews_last_hour=busy.reviews_last_hour if busy else 0,
                gold=gold.get(name, []),
                agreement_cases=agreed.cases if agreed else 0,
                kappa_with_decision=agreed.kappa_with_decision if agreed else None,
                pauses=paused.get(name, []),
                fatigue=fatigue(limits, held, times.get(person.id, []), now),
            )
        )
    shown = [
        replace(t, age_seconds=(now - t.created_at).total_seconds(), sla=_sla(t.due_at, now, risk_window))
        for t in open_tasks
    ]
    return Floor(now, risk_window, limits, queues, roster, events, shown, tasks)


def _sla(due: datetime | None, now: datetime, risk_window: float) -> str | None:
    """Where a task stands against its due time: overdue, at risk (due within ``risk_window`` s), on time."""
    if due is None:
        return None
    return "overdue" if due < now else "at risk" if due < now + timedelta(seconds=risk_window) else "on time"


def _roles_on(person: User, flows: frozenset[str] | None) -> str:
    """The roles ``person`` holds on these flows (None: anywhere), for the page."""
    held = person.roles() if flows is None else frozenset().union(*(person.roles(f) for f in flows))
    return ", ".join(sorted(r.value for r in held))


def fatigue(limits: Workload, held: int, times: list[datetime], now: datetime) -> Fatigue:
    """A reviewer's state against the workload limits, judged as the claim judges it (``workload.reached``).
    The stretch without a break is shown only when a limit on it is set (the review times reach back far
    enough to measure it only then)."""
    hit = workload.reached(limits, held, times, now)
    if hit is not None:
        until = "" if hit.until is None else f" until {hit.until:%H:%M} UTC"
        if hit.limit == "max_leases":
            text = f"holds {hit.value:.0f} of {hit.allowed:.0f} tasks: can claim more once one is handed back"
        elif hit.limit == "max_per_hour":
            text = f"{hit.value:.0f} reviews in the last hour, the limit: paused{until}"
        else:
            text = f"{hit.value / 60:.0f} min without a break (limit {hit.allowed / 60:.0f}): on a break{until}"
        return Fatigue(True, hit.limit, text)
    parts = []
    if limits.max_per_hour is not None:
        last_hour = sum(1 for t in times if t > now - workload.HOUR)
        parts.append(f"{last_hour} of {limits.max_per_hour} reviews this hour")
    if limits.max_continuous is not None:
        start = workload.streak_start(times, limits.min_break)
        working = times and start is not None and (now - times[0]).total_seconds() < limits.min_break
        worked = (now - start).total_seconds() / 60 if working and start is not None else 0.0
        parts.append(f"{worked:.0f} of {limits.max_continuous / 60:.0f} min without a break")
    return Fatigue(False, None, "; ".join(parts) if parts else "within limits")


def escalation(event: RecordedEvent) -> Escalation:
    """One escalation audit event as the floor lists it."""
    data = dict(event.data)
    task_id = int(event.entity_id) if event.entity == "task" else data.get("task_id")
    case_id = int(event.entity_id) if event.entity == "case" else data.get("case_id")
    if event.action == "task.escalated":
        what = f"moved to {data.get('to_queue')}"
    elif event.action == "task.held":
        what = "held: " + str(data.get("why", "the chain ran out and the queue holds its tasks"))
    elif event.action == "case.decided":
        what = f"decided {data.get('label')} by {str(data.get('decided_by', '')).replace('-', ' ')}"
    else:
        what = event.action
    return Escalation(
        at=event.at,
        task_id=task_id,
        case_id=case_id,
        from_queue=data.get("from_queue", data.get("queue")),  # a decision names the task's queue
        action=event.action,
        what=what,
    )
