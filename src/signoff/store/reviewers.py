"""What the review floor knows of each reviewer: skills, pauses, conflicts, recent work and gold answers."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, insert, select, update

from signoff.domain import CaseId, UserId
from signoff.errors import NotFound
from signoff.store.database import Database, as_utc
from signoff.store.joins import ANSWER, DECISION, REVIEWER, reviews_with_reviewer, reviews_with_task
from signoff.store.records import ConsensusAnswer, GoldAccuracy, Pause
from signoff.store.schema import cases, conflicts, decisions, gold_answers, reviewer_pauses, reviews, tasks, users


@dataclass(frozen=True)
class Profile:
    """What a claim must know of its reviewer, read in one round trip."""

    now: datetime
    skills: frozenset[str]
    held: int
    paused: frozenset[tuple[str, str]]


def profile(db: Database, conn: Connection, user_id: UserId) -> Profile:
    rows = db.run(conn, "reviewer_profile", reviewer=user_id)
    if not rows:
        raise NotFound("user", user_id)
    skills = rows[0].skills
    if isinstance(skills, str):  # JSON text on SQLite
        skills = json.loads(skills)
    paused = frozenset((r.paused_flow, r.paused_queue) for r in rows if r.paused_flow is not None)
    return Profile(as_utc(rows[0].now), frozenset(skills or ()), int(rows[0].held), paused)


def skills_of(conn: Connection, user_ids: Sequence[int]) -> dict[int, list[str]]:
    """The skills (sorted) of these users."""
    if not user_ids:
        return {}
    query = select(users.c.id, users.c.skills).where(users.c.id.in_(sorted(set(user_ids))))
    return {int(row.id): sorted(row.skills or ()) for row in conn.execute(query)}


def skills(conn: Connection, user_id: UserId) -> frozenset[str]:
    value = conn.execute(select(users.c.skills).where(users.c.id == user_id)).scalar_one_or_none()
    return frozenset(value or ())


def set_skills(conn: Connection, user_id: UserId, names: Sequence[str]) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(skills=sorted(set(names))))


def paused_queues(conn: Connection, user_id: UserId) -> list[tuple[str, str]]:
    query = select(reviewer_pauses.c.flow, reviewer_pauses.c.queue).where(
        reviewer_pauses.c.reviewer_id == user_id, reviewer_pauses.c.lifted_at.is_(None)
    )
    return [(row.flow, row.queue) for row in conn.execute(query)]


def pause(conn: Connection, user_id: UserId, flow: str, queue: str, reason: str, now: datetime) -> int:
    row = conn.execute(
        insert(reviewer_pauses)
        .values(reviewer_id=user_id, flow=flow, queue=queue, reason=reason, created_at=now)
        .returning(reviewer_pauses.c.id)
    ).one()
    return int(row.id)


def lift(conn: Connection, user_id: UserId, flow: str, queue: str, now: datetime, by: str) -> int:
    """Lift the open pause of a reviewer on a queue; the number lifted (0 or 1)."""
    result = conn.execute(
        update(reviewer_pauses)
        .where(
            reviewer_pauses.c.reviewer_id == user_id,
            reviewer_pauses.c.flow == flow,
            reviewer_pauses.c.queue == queue,
            reviewer_pauses.c.lifted_at.is_(None),
        )
        .values(lifted_at=now, lifted_by=by)
    )
    return result.rowcount


def pauses(conn: Connection) -> list[Pause]:
    """Open pauses, with the reviewer's name: what a lead must look at."""
    query = (
        select(reviewer_pauses, REVIEWER)
        .join(users, users.c.id == reviewer_pauses.c.reviewer_id)
        .where(reviewer_pauses.c.lifted_at.is_(None))
        .order_by(reviewer_pauses.c.id)
    )
    return [Pause.from_row(row) for row in conn.execute(query)]


def is_conflicted(conn: Connection, user_id: UserId, case_id: int) -> bool:
    query = select(conflicts.c.case_id).where(conflicts.c.reviewer_id == user_id, conflicts.c.case_id == case_id)
    return conn.execute(query).first() is not None


def mark_conflict(conn: Connection, user_id: UserId, case_id: int, reason: str, by: str, now: datetime) -> None:
    conn.execute(
        insert(conflicts).values(reviewer_id=user_id, case_id=case_id, reason=reason, marked_by=by, created_at=now)
    )


def review_times(conn: Connection, user_ids: Sequence[int], since: datetime) -> dict[int, list[datetime]]:
    """When each of these reviewers reviewed since ``since``, newest first (what the workload limits judge), in one
    query however many reviewers; a reviewer with no review is left out."""
    query = (
        select(reviews.c.reviewer_id, reviews.c.created_at)
        .where(reviews.c.reviewer_id.in_(list(user_ids)), reviews.c.created_at >= since)
        .order_by(reviews.c.reviewer_id, reviews.c.created_at.desc())
    )
    found: dict[int, list[datetime]] = {}
    for row in conn.execute(query):
        found.setdefault(int(row.reviewer_id), []).append(row.created_at)
    return found


def last_queues(conn: Connection, user_id: UserId, n: int) -> list[tuple[str, str]]:
    """The flow and queue of this reviewer's last ``n`` reviews, newest first."""
    query = (
        select(tasks.c.flow, tasks.c.queue)
        .join(reviews, reviews.c.task_id == tasks.c.id)
        .where(reviews.c.reviewer_id == user_id)
        .order_by(reviews.c.created_at.desc(), reviews.c.id.desc())
        .limit(n)
    )
    return [(row.flow, row.queue) for row in conn.execute(query)]


def has_open_work(conn: Connection, flow: str, queue: str) -> bool:
    query = select(tasks.c.id).where(tasks.c.status != "done", tasks.c.flow == flow, tasks.c.queue == queue).limit(1)
    return conn.execute(query).first() is not None


def insert_gold(conn: Connection, case_ids: Sequence[CaseId], labels: Sequence[str], now: datetime) -> None:
    """Record the known answers of gold cases, one label per case."""
    rows = [{"case_id": c, "label": g, "created_at": now} for c, g in zip(case_ids, labels, strict=True)]
    if rows:
        conn.execute(insert(gold_answers), rows)


def gold_label(conn: Connection, case_id: int) -> str | None:
    query = select(gold_answers.c.label).where(gold_answers.c.case_id == case_id)
    return conn.execute(query).scalar_one_or_none()


def gold_case_for(conn: Connection, flow: str, user_id: UserId, user_name: str) -> int | None:
    """A gold case of this flow that the reviewer neither answered nor added, at random; None if none is left."""
    answered = select(reviews.c.case_id).where(reviews.c.reviewer_id == user_id)
    query = (
        select(gold_answers.c.case_id)
        .join(cases, cases.c.id == gold_answers.c.case_id)
        .where(
            cases.c.flow == flow,
            gold_answers.c.case_id.not_in(answered),
            cases.c.submitted_by.is_distinct_from(user_name),
        )
        .order_by(func.random())
        .limit(1)
    )
    value = conn.execute(query).scalar_one_or_none()
    return None if value is None else int(value)


def gold_record(conn: Connection, user_id: UserId, flow: str, queue: str) -> tuple[int, int]:
    """This reviewer's gold answers in one queue: (answered, correct)."""
    query = (
        select(
            func.count().label("n"),
            func.count().filter(reviews.c.label == gold_answers.c.label).label("correct"),
        )
        .select_from(reviews_with_task().join(gold_answers, gold_answers.c.case_id == reviews.c.case_id))
        .where(reviews.c.reviewer_id == user_id, tasks.c.flow == flow, tasks.c.queue == queue)
    )
    row = conn.execute(query).one()
    return int(row.n), int(row.correct)


def gold_by_reviewer(conn: Connection, flows: Collection[str] | None) -> list[GoldAccuracy]:
    """Gold answers and correct ones per reviewer, flow and queue (of ``flows``; None: every flow)."""
    query = (
        select(
            REVIEWER,
            tasks.c.flow,
            tasks.c.queue,
            func.count().label("answered"),
            func.count().filter(reviews.c.label == gold_answers.c.label).label("correct"),
        )
        .select_from(reviews_with_reviewer().join(gold_answers, gold_answers.c.case_id == reviews.c.case_id))
        .group_by(users.c.name, tasks.c.flow, tasks.c.queue)
        .order_by(users.c.name, tasks.c.flow, tasks.c.queue)
    )
    if flows is not None:
        query = query.where(tasks.c.flow.in_(sorted(flows)))
    return [GoldAccuracy.from_row(row) for row in conn.execute(query)]


def consensus_reviews(conn: Connection, flows: Collection[str] | None) -> list[ConsensusAnswer]:
    """Every answer on cases that had several independent reviews: case, flow, queue, reviewer, label and the
    case's final decision (None while undecided). Adjudications and gold are left out."""
    multi = (
        select(reviews.c.case_id)
        .select_from(reviews_with_task())
        .where(tasks.c.kind == "review")
        .group_by(reviews.c.case_id)
        .having(func.count() > 1)
    )
    query = (
        select(*ANSWER, REVIEWER, DECISION)
        .select_from(reviews_with_reviewer().outerjoin(decisions, decisions.c.case_id == reviews.c.case_id))
        .where(tasks.c.kind == "review", reviews.c.case_id.in_(multi))
        .order_by(reviews.c.case_id, reviews.c.id)
    )
    if flows is not None:
        query = query.where(tasks.c.flow.in_(sorted(flows)))
    return [ConsensusAnswer.from_row(row) for row in conn.execute(query)]
