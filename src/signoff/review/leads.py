"""What a review lead does to the floor: assign a task to a named reviewer, give reviewers skills, mark a
reviewer conflicted on a case, and lift a pause that gold tasks put on someone. Each change is audited."""

from __future__ import annotations

from collections.abc import Sequence

from signoff.audit import record
from signoff.config import Project
from signoff.domain import AuditEvent, TaskStatus
from signoff.errors import Conflict, InvalidInput, NotFound, Problem
from signoff.review.service import ROLE_SCOPE
from signoff.store import cases as case_store
from signoff.store import reviewers as people
from signoff.store import tasks as task_store
from signoff.store import users as user_store
from signoff.store.database import Database


def assign(db: Database, project: Project, actor: str, task_id: int, reviewer: str | None) -> None:
    """Reserve an open task for ``reviewer`` (only they may claim it), or free it again with None.
    A lease someone holds now is left alone: the assignment applies once the task is back in the queue."""
    with db.transaction() as conn:
        task = task_store.get(conn, task_id)
        if task is None:
            raise NotFound("task", task_id)
        if task.status == TaskStatus.DONE.value:
            raise Conflict(f"task {task_id} is done; only open tasks can be assigned")
        person = user_store.user_by_name(conn, reviewer) if reviewer is not None else None
        if person is not None:
            problems = []
            if task.role not in ROLE_SCOPE.get(person.role, ()):
                problems.append(Problem("reviewer", f"{person.name} ({person.role}) may not take {task.role} tasks"))
            spec = project.flow(task.flow).queues.get(task.queue)
            missing = sorted(set(spec.skills) - people.skills(conn, person.id)) if spec is not None else []
            if missing:
                problems.append(Problem("reviewer", f"{person.name} lacks the queue's skills {missing}"))
            if people.is_conflicted(conn, person.id, task.case_id):
                problems.append(Problem("reviewer", f"{person.name} is marked conflicted on case {task.case_id}"))
            if problems:
                raise InvalidInput(problems, f"task {task_id} cannot go to {person.name}")
        task_store.assign(conn, task_id, person.id if person else None)
        record(
            db,
            conn,
            [
                AuditEvent(
                    actor,
                    "task.assigned",
                    "task",
                    str(task_id),
                    {"case_id": task.case_id, "reviewer": reviewer},
                )
            ],
        )


def set_skills(db: Database, actor: str, reviewer: str, skills: Sequence[str]) -> list[str]:
    """Replace a reviewer's skills; returns them sorted."""
    cleaned = sorted({s.strip() for s in skills})
    bad = [s for s in cleaned if not s or len(s) > 63]
    if bad:
        raise InvalidInput([Problem("skills", "each skill is a name of 1 to 63 characters")])
    with db.transaction() as conn:
        person = user_store.user_by_name(conn, reviewer)
        people.set_skills(conn, person.id, cleaned)
        record(db, conn, [AuditEvent(actor, "user.skills_set", "user", str(person.id), {"skills": cleaned})])
    return cleaned


def mark_conflict(db: Database, actor: str, reviewer: str, case_id: int, reason: str) -> None:
    """Never offer this case's tasks to ``reviewer`` again (a relative applied, they know the customer...)."""
    if not reason.strip():
        raise InvalidInput([Problem("reason", "say why the reviewer is conflicted")])
    with db.transaction() as conn:
        person = user_store.user_by_name(conn, reviewer)
        if not case_store.exists(conn, case_id):
            raise NotFound("case", case_id)
        if not people.is_conflicted(conn, person.id, case_id):
            people.mark_conflict(conn, person.id, case_id, reason, actor, db.now(conn))
            freed = task_store.unassign_case(conn, case_id, person.id)  # a reservation they can no longer take
            record(
                db,
                conn,
                [
                    AuditEvent(
                        actor,
                        "reviewer.conflicted",
                        "user",
                        str(person.id),
                        {"reviewer": reviewer, "case_id": case_id, "reason": reason, "unassigned": freed},
                    )
                ],
            )


def lift_pause(db: Database, actor: str, reviewer: str, flow: str, queue: str) -> None:
    """Let a reviewer paused by gold tasks work the queue again."""
    with db.transaction() as conn:
        person = user_store.user_by_name(conn, reviewer)
        if people.lift(conn, person.id, flow, queue, db.now(conn), actor) == 0:
            raise NotFound("pause", f"{reviewer} on {flow}/{queue}")
        record(
            db,
            conn,
            [
                AuditEvent(
                    actor,
                    "reviewer.unpaused",
                    "user",
                    str(person.id),
                    {"reviewer": reviewer, "flow": flow, "queue": queue},
                )
            ],
        )
