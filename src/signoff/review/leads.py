"""What a review lead does to the floor: assign a task to a named reviewer, give reviewers skills, mark a
reviewer conflicted on a case, and lift a pause that gold tasks put on someone. Each change is audited.

A lead acts only on the flows they lead (``users.scope(actor, "assign")``): a task, case or pause of another flow
does not exist for them. Nobody sets their own skills or lifts their own pause: a second person must.
"""

from __future__ import annotations

from collections.abc import Sequence

from signoff import users
from signoff.audit import change, record
from signoff.config import Project
from signoff.domain import ANY_FLOW, AuditEvent, Role, TaskStatus, User
from signoff.errors import Conflict, FourEyes, InvalidInput, NotFound, Problem
from signoff.review.service import task_roles
from signoff.store import cases as case_store
from signoff.store import reviewers as people
from signoff.store import tasks as task_store
from signoff.store import users as user_store
from signoff.store.database import Database


def assign(db: Database, project: Project, actor: User, task_id: int, reviewer: str | None) -> None:
    """Reserve an open task for ``reviewer`` (only they may claim it), or free it again with None.
    A lease someone holds now is left alone: the assignment applies once the task is back in the queue.
    Refused unless the reviewer could claim the task themselves: the role on its flow, the queue's skills, and
    four eyes (not their own case, not one they are conflicted on or answered already)."""
    with db.transaction() as conn:
        task = task_store.get(conn, task_id)
        if task is None or not users.may(actor, "assign", task.flow):
            raise NotFound("task", task_id)
        if task.status is TaskStatus.DONE:
            raise Conflict(f"task {task_id} is done; only open tasks can be assigned")
        person = user_store.user_by_name(conn, reviewer) if reviewer is not None else None
        if person is not None:
            problems = []
            if task.role not in task_roles(person, task.flow):
                problems.append(
                    Problem("reviewer", f"{person.name} may not take {task.role} tasks on flow {task.flow}")
                )
            spec = project.flow(task.flow).queues.get(task.queue)
            missing = sorted(set(spec.skills) - people.skills(conn, person.id)) if spec is not None else []
            if missing:
                problems.append(Problem("reviewer", f"{person.name} lacks the queue's skills {missing}"))
            if people.is_conflicted(conn, person.id, task.case_id):
                problems.append(Problem("reviewer", f"{person.name} is marked conflicted on case {task.case_id}"))
            if (why := case_store.four_eyes(conn, task.case_id, person.id, person.name)) is not None:
                problems.append(Problem("reviewer", f"{why}: four eyes, another reviewer must answer"))
            if problems:
                raise InvalidInput(problems, f"task {task_id} cannot go to {person.name}")
        task_store.assign(conn, task_id, person.id if person else None)
        record(
            db,
            conn,
            [
                AuditEvent(
                    actor.name,
                    "task.assigned",
                    "task",
                    str(task_id),
                    {"case_id": task.case_id, "reviewer": reviewer},
                )
            ],
        )


def _reviews_under(actor: User, person: User) -> bool:
    """Whether ``person`` reviews (as a reviewer or lead; an admin, only for an admin) on a flow ``actor`` leads."""
    for grant in person.grants:
        reviewing = grant.role in (Role.REVIEWER, Role.LEAD) or (
            grant.role is Role.ADMIN and Role.ADMIN in actor.roles()
        )
        if reviewing and users.may(actor, "assign", None if grant.flow == ANY_FLOW else grant.flow):
            return True
    return False


def set_skills(db: Database, actor: User, reviewer: str, skills: Sequence[str]) -> list[str]:
    """Replace a reviewer's skills; returns them sorted. Only for someone who reviews a flow the actor leads,
    and never one's own."""
    cleaned = sorted({s.strip() for s in skills})
    bad = [s for s in cleaned if not s or len(s) > 63]
    if bad:
        raise InvalidInput([Problem("skills", "each skill is a name of 1 to 63 characters")])
    with db.transaction() as conn:
        person = user_store.user_by_name(conn, reviewer)
        if person.id == actor.id:
            raise FourEyes("nobody sets their own skills: another lead or an admin must")
        if not _reviews_under(actor, person):
            raise NotFound("reviewer", f"{reviewer} on the flows you lead")
        before = sorted(people.skills(conn, person.id))
        people.set_skills(conn, person.id, cleaned)
        data = {"skills": cleaned} | change({"skills": before}, {"skills": cleaned})
        record(db, conn, [AuditEvent(actor.name, "user.skills_set", "user", str(person.id), data)])
    return cleaned


def mark_conflict(db: Database, actor: User, reviewer: str, case_id: int, reason: str) -> None:
    """Never offer this case's tasks to ``reviewer`` again (a relative applied, they know the customer...)."""
    if not reason.strip():
        raise InvalidInput([Problem("reason", "say why the reviewer is conflicted")])
    with db.transaction() as conn:
        person = user_store.user_by_name(conn, reviewer)
        flow = case_store.flow_of(conn, case_id)
        if flow is None or not users.may(actor, "assign", flow):
            raise NotFound("case", case_id)
        if not people.is_conflicted(conn, person.id, case_id):
            people.mark_conflict(conn, person.id, case_id, reason, actor.name, db.now(conn))
            freed = task_store.unassign_case(conn, case_id, person.id)  # a reservation they can no longer take
            record(
                db,
                conn,
                [
                    AuditEvent(
                        actor.name,
                        "reviewer.conflicted",
                        "user",
                        str(person.id),
                        {"reviewer": reviewer, "case_id": case_id, "reason": reason, "unassigned": freed},
                    )
                ],
            )


def lift_pause(db: Database, actor: User, reviewer: str, flow: str, queue: str) -> None:
    """Let a reviewer paused by gold tasks work the queue again; never one's own pause."""
    with db.transaction() as conn:
        person = user_store.user_by_name(conn, reviewer)
        if not users.may(actor, "assign", flow):
            raise NotFound("pause", f"{reviewer} on {flow}/{queue}")
        if person.id == actor.id:
            raise FourEyes("nobody lifts their own pause: another lead or an admin must")
        if people.lift(conn, person.id, flow, queue, db.now(conn), actor.name) == 0:
            raise NotFound("pause", f"{reviewer} on {flow}/{queue}")
        record(
            db,
            conn,
            [
                AuditEvent(
                    actor.name,
                    "reviewer.unpaused",
                    "user",
                    str(person.id),
                    {"reviewer": reviewer, "flow": flow, "queue": queue},
                )
            ],
        )
