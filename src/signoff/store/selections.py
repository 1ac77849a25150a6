"""Active learning's pool and its draws: automatically decided cases nobody has looked at, and those offered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, exists, insert, select

from signoff.domain import CaseId, TaskId, UserId
from signoff.store.schema import al_selections, cases, conflicts, decisions, predictions, tasks


@dataclass(frozen=True)
class Candidate:
    """A case the model decided alone, with the probabilities it gave (in the flow's label order)."""

    case_id: CaseId
    probabilities: list[float]


def pool(conn: Connection, flow: str, reviewer: UserId, reviewer_name: str, limit: int) -> list[Candidate]:
    """The ``limit`` most recent cases of ``flow`` the model decided alone that never had a task (so never flagged,
    audited or explored), scored with probabilities, that ``reviewer`` neither submitted nor is conflicted on.
    Gold cases are never decided, so never here."""
    query = (
        select(cases.c.id, predictions.c.probabilities)
        .join(decisions, decisions.c.case_id == cases.c.id)
        .join(
            predictions,
            and_(
                predictions.c.case_id == cases.c.id,
                predictions.c.model_version_id == decisions.c.model_version_id,
            ),
        )
        .where(
            cases.c.flow == flow,
            decisions.c.decided_by == "model",
            predictions.c.probabilities.is_not(None),
            cases.c.submitted_by.is_distinct_from(reviewer_name),
            ~exists().where(tasks.c.case_id == cases.c.id),
            ~exists().where(al_selections.c.case_id == cases.c.id),
            ~exists().where(conflicts.c.case_id == cases.c.id, conflicts.c.reviewer_id == reviewer),
        )
        .order_by(cases.c.created_at.desc(), cases.c.id.desc(), predictions.c.id.desc())
        .limit(limit)
    )
    seen: set[int] = set()
    found = []
    for row in conn.execute(query):
        if row.id not in seen and isinstance(row.probabilities, list):
            seen.add(row.id)
            found.append(Candidate(CaseId(row.id), [float(p) for p in row.probabilities]))
    return found


def still_free(conn: Connection, case_id: CaseId) -> bool:
    """Lock the case (a row lock on PostgreSQL; SQLite writers are serial already) and say whether it still has no
    task: a concurrent claim that drew the same case and committed first has opened one."""
    conn.execute(select(cases.c.id).where(cases.c.id == case_id).with_for_update(key_share=True))
    return conn.execute(select(tasks.c.id).where(tasks.c.case_id == case_id).limit(1)).first() is None


def record(
    conn: Connection,
    *,
    case_id: CaseId,
    flow: str,
    task_id: TaskId,
    probability: float,
    margin: float,
    strategy: str,
    pool_size: int,
    now: datetime,
) -> int:
    """Record a draw (after ``still_free``: one per case)."""
    row = {
        "case_id": case_id,
        "flow": flow,
        "task_id": task_id,
        "probability": probability,
        "margin": margin,
        "strategy": strategy,
        "pool_size": pool_size,
        "created_at": now,
    }
    return int(conn.execute(insert(al_selections).values(row).returning(al_selections.c.id)).scalar_one())


def probabilities(conn: Connection, flow: str) -> dict[int, float]:
    """The selection probability of each case of the flow offered to spare capacity (its label's weight is the
    inverse)."""
    query = select(al_selections.c.case_id, al_selections.c.probability).where(al_selections.c.flow == flow)
    return {int(row.case_id): float(row.probability) for row in conn.execute(query)}
