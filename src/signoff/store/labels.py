"""Outcomes and label conflicts, and the evidence a flow's labels are checked on: reviews, decisions, gold answers
and reviewer pauses, each as known at a given time."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from signoff.store.joins import ANSWER, REVIEWER, reviews_with_reviewer
from signoff.store.records import LabelConflict
from signoff.store.schema import (
    cases,
    decisions,
    gold_answers,
    label_conflicts,
    outcomes,
    reviewer_pauses,
    reviews,
    routes,
    tasks,
)

_CHUNK = 1000


def cases_by_id(conn: Connection, case_ids: Sequence[int]) -> dict[int, Row[Any]]:
    """The flow and status of each of these cases that exists, by id."""
    found: dict[int, Row[Any]] = {}
    ids = sorted(set(case_ids))
    for start in range(0, len(ids), _CHUNK):
        query: Any = select(cases.c.id, cases.c.flow, cases.c.status).where(cases.c.id.in_(ids[start : start + _CHUNK]))
        found.update({int(row.id): row for row in conn.execute(query)})
    return found


def cases_by_external_id(conn: Connection, flow: str, external_ids: Sequence[str]) -> dict[str, Row[Any]]:
    """This flow's cases with these external ids, by external id."""
    found: dict[str, Row[Any]] = {}
    ids = sorted(set(external_ids))
    for start in range(0, len(ids), _CHUNK):
        query: Any = select(cases.c.id, cases.c.flow, cases.c.status, cases.c.external_id).where(
            cases.c.flow == flow, cases.c.external_id.in_(ids[start : start + _CHUNK])
        )
        found.update({str(row.external_id): row for row in conn.execute(query)})
    return found


def outcomes_of(conn: Connection, case_ids: Sequence[int]) -> list[Row[Any]]:
    """The recorded outcomes of these cases."""
    found: list[Row[Any]] = []
    ids = sorted(set(case_ids))
    for start in range(0, len(ids), _CHUNK):
        query = select(outcomes).where(outcomes.c.case_id.in_(ids[start : start + _CHUNK]))
        found.extend(conn.execute(query))
    return found


def insert_outcomes(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    if not rows:
        return []
    result = conn.execute(insert(outcomes).returning(outcomes.c.id, sort_by_parameter_order=True), list(rows))
    return [int(row.id) for row in result]


# The evidence of a flow's labels, each query bounded by the time it was recorded.


def flow_cases(conn: Connection, flow: str, until: datetime) -> list[Row[Any]]:
    query = select(cases.c.id, cases.c.status, cases.c.created_at).where(
        cases.c.flow == flow, cases.c.created_at <= until
    )
    return list(conn.execute(query.order_by(cases.c.id)))


def answers(conn: Connection, flow: str, until: datetime) -> list[Row[Any]]:
    """Every review of the flow's cases: by whom, on which kind of task in which queue, with which label."""
    query = (
        select(*ANSWER, REVIEWER)
        .select_from(reviews_with_reviewer())
        .where(tasks.c.flow == flow, reviews.c.created_at <= until)
        .order_by(reviews.c.id)
    )
    return list(conn.execute(query))


def flow_decisions(conn: Connection, flow: str, until: datetime) -> list[Row[Any]]:
    query = (
        select(decisions.c.case_id, decisions.c.label, decisions.c.decided_by, decisions.c.review_id)
        .add_columns(decisions.c.created_at)
        .join(cases, cases.c.id == decisions.c.case_id)
        .where(cases.c.flow == flow, decisions.c.created_at <= until)
    )
    return list(conn.execute(query))


def flow_outcomes(conn: Connection, flow: str, until: datetime) -> list[Row[Any]]:
    query = select(outcomes).where(outcomes.c.flow == flow, outcomes.c.created_at <= until).order_by(outcomes.c.id)
    return list(conn.execute(query))


def flow_gold(conn: Connection, flow: str) -> dict[int, str]:
    query = select(gold_answers.c.case_id, gold_answers.c.label).join(cases).where(cases.c.flow == flow)
    return {int(row.case_id): str(row.label) for row in conn.execute(query)}


def flow_pauses(conn: Connection, flow: str, until: datetime) -> list[Row[Any]]:
    query = (
        select(reviewer_pauses)
        .where(reviewer_pauses.c.flow == flow, reviewer_pauses.c.created_at <= until)
        .order_by(reviewer_pauses.c.id)
    )
    return list(conn.execute(query))


def audit_inclusion(conn: Connection, flow: str) -> dict[int, float]:
    """The inclusion probability of each case of the flow that was drawn into the random audit sample."""
    query = (
        select(routes.c.case_id, routes.c.inclusion_probability)
        .join(cases, cases.c.id == routes.c.case_id)
        .where(cases.c.flow == flow, routes.c.verdict == "audit", routes.c.inclusion_probability.is_not(None))
        .order_by(routes.c.id)
    )
    return {int(row.case_id): float(row.inclusion_probability) for row in conn.execute(query)}


# Label conflicts.


def conflicts(
    conn: Connection,
    flows: Collection[str] | None,
    *,
    status: str = "all",
    case_ids: Collection[int] | None = None,
    limit: int | None = None,
) -> list[LabelConflict]:
    """Recorded conflicts of these flows (None: every flow), oldest first; ``status`` open, resolved or all."""
    query = select(label_conflicts).order_by(label_conflicts.c.id)
    if flows is not None:
        query = query.where(label_conflicts.c.flow.in_(sorted(flows)))
    if status == "open":
        query = query.where(label_conflicts.c.resolved_at.is_(None))
    elif status == "resolved":
        query = query.where(label_conflicts.c.resolved_at.is_not(None))
    if case_ids is not None:
        query = query.where(label_conflicts.c.case_id.in_(sorted(case_ids)))
    if limit is not None:
        query = query.limit(limit)
    return [LabelConflict.from_row(row) for row in conn.execute(query)]


def conflict(conn: Connection, conflict_id: int, *, lock: bool = False) -> LabelConflict | None:
    query = select(label_conflicts).where(label_conflicts.c.id == conflict_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    return None if row is None else LabelConflict.from_row(row)


def insert_conflict(conn: Connection, row: dict[str, Any]) -> int:
    return int(conn.execute(insert(label_conflicts).values(**row).returning(label_conflicts.c.id)).scalar_one())


def update_conflict(conn: Connection, conflict_id: int, **values: Any) -> None:
    conn.execute(update(label_conflicts).where(label_conflicts.c.id == conflict_id).values(**values))
