"""The review floor as a lead sees it on one page: queues, each reviewer's load, quality, pauses and fatigue, the
latest escalations, and the open tasks a lead may assign. Read only; the changes are in ``signoff.review.leads``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

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

TASKS_SHOWN = 50
ESCALATIONS_SHOWN = 20


@dataclass(frozen=True)
class Floor:
    at: datetime
    risk_window: float
    limits: Workload
    queues: list[dict[str, Any]]
    reviewers: list[dict[str, Any]]
    escalations: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
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
        skills = people.skills_of(conn, [p.id for p in team])
        roster: list[dict[str, Any]] = [
            {"id": p.id, "name": p.name, "role": _roles_on(p, flows), "skills": skills.get(p.id, [])}
            for p in sorted(team, key=lambda p: p.name)
        ]
        since = now - max(workload.lookback(limits), workload.HOUR)
        by_id = people.review_times(conn, [p["id"] for p in roster], since)
        times = {p["name"]: by_id.get(p["id"], []) for p in roster}
        events = audit_store.escalations(conn, escalations)
        if flows is not None:
            case_flows = case_store.flows_of(conn, [e.data.get("case_id") for e in events if e.data.get("case_id")])
            events = [e for e in events if case_flows.get(e.data.get("case_id")) in flows]
        open_tasks = task_store.open_in_claim_order(conn, now, tasks, flows)

    agreement = {(q["flow"], q["queue"]): q for q in quality.agreement.queues}
    for row in view.queues:
        found = agreement.get((row["flow"], row["queue"]))
        row["agreement_cases"] = found["cases"] if found else 0
        row["krippendorff_alpha"] = found["krippendorff_alpha"] if found else None

    load = {r["name"]: r for r in view.reviewers}
    kappa = {r["reviewer"]: r for r in quality.agreement.reviewers}
    gold: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in quality.gold:
        gold[row["reviewer"]].append(row)
    paused: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in quality.pauses:
        paused[row["reviewer"]].append(row)
    people_rows = []
    for person in roster:
        name = person["name"]
        held = load[name]["leases_held"] if name in load else 0
        people_rows.append(
            {
                **person,
                "leases_held": held,
                "reviews_last_hour": load[name]["reviews_last_hour"] if name in load else 0,
                "gold": gold.get(name, []),
                "agreement_cases": kappa[name]["cases"] if name in kappa else 0,
                "kappa_with_decision": kappa[name]["kappa_with_decision"] if name in kappa else None,
                "pauses": paused.get(name, []),
                "fatigue": fatigue(limits, held, times[name], now),
            }
        )

    for task in open_tasks:
        due = task["due_at"]
        task["age_seconds"] = (now - task["created_at"]).total_seconds()
        task["sla"] = (
            None
            if due is None
            else "overdue"
            if due < now
            else "at risk"
            if due < now + timedelta(seconds=risk_window)
            else "on time"
        )
    return Floor(now, risk_window, limits, view.queues, people_rows, [escalation(e) for e in events], open_tasks, tasks)


def _roles_on(person: User, flows: frozenset[str] | None) -> str:
    """The roles ``person`` holds on these flows (None: anywhere), for the page."""
    held = person.roles() if flows is None else frozenset().union(*(person.roles(f) for f in flows))
    return ", ".join(sorted(r.value for r in held))


def fatigue(limits: Workload, held: int, times: list[datetime], now: datetime) -> dict[str, Any]:
    """A reviewer's state against the workload limits, judged as the claim judges it (``workload.reached``):
    ``limited`` when their next claim would be refused, and a sentence that says why or how they stand.
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
        return {"limited": True, "limit": hit.limit, "text": text}
    parts = []
    if limits.max_per_hour is not None:
        last_hour = sum(1 for t in times if t > now - workload.HOUR)
        parts.append(f"{last_hour} of {limits.max_per_hour} reviews this hour")
    if limits.max_continuous is not None:
        start = workload.streak_start(times, limits.min_break)
        working = times and start is not None and (now - times[0]).total_seconds() < limits.min_break
        worked = (now - start).total_seconds() / 60 if working and start is not None else 0.0
        parts.append(f"{worked:.0f} of {limits.max_continuous / 60:.0f} min without a break")
    return {"limited": False, "limit": None, "text": "; ".join(parts) if parts else "within limits"}


def escalation(event: Any) -> dict[str, Any]:
    """One escalation audit event as a row: when, which task and case, from which queue, and what happened."""
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
    return {
        "at": event.at,
        "task_id": task_id,
        "case_id": case_id,
        "from_queue": data.get("from_queue", data.get("queue")),  # a decision names the task's queue
        "action": event.action,
        "what": what,
    }
