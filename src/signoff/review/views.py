"""What a caller may see of cases, tasks and reviewers: one place, used by the API and the web UI alike.

Reviewers must not learn who else reviewed a case or what they answered (blind consensus), nor which of their
tasks is a gold task; reviewer names, answers, gold accuracy and pauses are for those who oversee the flow
(``users.PERMISSIONS["oversee"]``). A caller who may not read a case's flow is told the case does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from signoff import users
from signoff.domain import CaseStatus, TaskKind, TaskStatus, User
from signoff.errors import NotFound
from signoff.review import queues
from signoff.store import cases as case_store
from signoff.store import tasks as task_store
from signoff.store import users as user_store
from signoff.store.database import Database
from signoff.store.records import Case, GoldAccuracy, Pause, SealedDecision, Task


def case_record(db: Database, user: User, case_id: int) -> Case:
    """The case as ``user`` may see it; NotFound if it does not exist or its flow is not theirs."""
    with db.transaction(write=False) as conn:
        record = case_store.case_record(conn, case_id)
    if record is None or not users.may(user, "read_cases", record.flow):
        raise NotFound("case", case_id)
    return case_shown(record, user)


def case_shown(record: Case, user: User, *, working: int | None = None) -> Case:
    """``record`` cut to what ``user`` may see. Whoever works the case as one of its reviewers (``working``: the
    task they claimed, or any live lease of theirs on it) sees it as its reviewers do, even a lead: blind to the
    other answers, and a gold task as an ordinary review. An adjudicator sees the answers they settle."""
    me = user.id
    tasks = record.tasks
    holds = [t for t in tasks if t.id == working or (t.status is TaskStatus.LEASED and t.lease_owner == me)]
    adjudicating = any(t.kind is TaskKind.ADJUDICATION for t in holds) or any(
        t.kind is TaskKind.ADJUDICATION and t.lease_owner == me for t in tasks
    )
    reviewing = any(t.kind is not TaskKind.ADJUDICATION for t in holds)
    if users.may(user, "oversee", record.flow) and not reviewing:
        return record
    shown = replace(
        record,
        status=CaseStatus.IN_REVIEW if record.status is CaseStatus.GOLD else record.status,
        tasks=tuple(
            task_shown(t, user, overseer=False)
            for t in tasks
            if t.kind is not TaskKind.GOLD or t.lease_owner == me or t.id == working
        ),
    )
    if not adjudicating or reviewing:
        shown = replace(shown, reviews=tuple(r for r in record.reviews if r.reviewer_id == me))
    return shown


def task_shown(task: Task, user: User, *, overseer: bool) -> Task:
    """One task as ``user`` sees it: to all but those who oversee its flow, a gold task is a review, and whoever
    else holds or is assigned it is not named."""
    if overseer:
        return task
    return replace(
        task,
        kind=shown_kind(task.kind),
        lease_owner=task.lease_owner if task.lease_owner == user.id else None,
        assignee=task.assignee if task.assignee == user.id else None,
        leases=tuple(
            lease if lease.reviewer_id == user.id else replace(lease, reviewer_id=None) for lease in task.leases
        ),
    )


def task_page(
    db: Database, user: User, flow: str | None, queue: str | None, status: str | None, after: int, limit: int
) -> tuple[list[Task], int | None]:
    """A page of the tasks ``user`` may list (of ``flow`` among them), by id, as they may see them, and the id to
    pass as ``after`` for the next page (None: this was the last)."""
    with db.transaction(write=False) as conn:
        flows = users.scope(user, "list_tasks", flow)
        found = task_store.page(conn, flows=flows, queue=queue, status=status, after=after, limit=limit)
    next_after = found[-1].id if len(found) == limit else None
    return [task_shown(task, user, overseer=users.may(user, "oversee", task.flow)) for task in found], next_after


def decisions_since(db: Database, flow: str, after: int, limit: int) -> tuple[list[SealedDecision], int | None]:
    """A page of the flow's decisions in the order the audit chain sealed them, after the seal ``after``, and the
    ``after`` of the next page (None: caught up; resume from the last decision's ``seq``). A decision is read
    once its event is sealed, about a quarter of a second after it commits: a commit never lands behind a cursor."""
    with db.transaction(write=False) as conn:
        found = case_store.decisions_after(conn, flow, after, limit)
    return found, found[-1].seq if len(found) == limit else None


def shown_kind(kind: TaskKind) -> TaskKind:
    """The task kind a reviewer is told: a gold task is a review to them."""
    return TaskKind.REVIEW if kind is TaskKind.GOLD else kind


def _overseen_people(db: Database, user: User) -> Callable[[str], bool]:
    """Whether a named person's figures are for ``user``: their own, or someone who reviews on a flow ``user``
    oversees."""
    overseen = users.scope(user, "oversee")
    if overseen is None:
        return lambda _name: True
    if not overseen:
        return lambda name: name == user.name
    with db.transaction(write=False) as conn:
        everyone = user_store.list_users(conn)
    names = {person.name for person in everyone for flow in overseen if users.may(person, "review", flow)}
    return lambda name: name == user.name or name in names


def queues_for(db: Database, user: User, flow: str | None, risk_window: float) -> queues.Overview:
    """The queues of the flows ``user`` may list (or of ``flow`` among them); the load of the people they
    oversee, or their own."""
    found = queues.overview(db, flows=users.scope(user, "list_tasks", flow), risk_window=risk_window)
    shown = _overseen_people(db, user)
    return replace(found, reviewers=[r for r in found.reviewers if shown(r.name)])


def reviewers_for(db: Database, user: User, flow: str | None) -> queues.Reviewers:
    """Load, gold accuracy, pauses and agreement as ``user`` may see them: queue-wide agreement on the flows
    they may list; names, gold accuracy, pauses and pairwise agreement on the flows they oversee (their own
    figures everywhere)."""
    seen = users.scope(user, "list_tasks", flow)
    overseen = users.scope(user, "oversee", flow)
    found = queues.reviewers(db, flows=seen)
    if overseen == seen:
        named = found.agreement
    elif overseen:
        named = queues.reviewers(db, flows=overseen).agreement
    else:
        named = queues.Agreement([], [], [])
    shown = _overseen_people(db, user)

    def mine(row: GoldAccuracy | Pause) -> bool:
        return row.reviewer == user.name or users.in_scope(overseen, row.flow)

    return replace(
        found,
        reviewers=[r for r in found.reviewers if shown(r.name)],
        gold=[r for r in found.gold if mine(r)],
        pauses=[r for r in found.pauses if mine(r)],
        agreement=replace(found.agreement, pairs=named.pairs, reviewers=named.reviewers),
    )
