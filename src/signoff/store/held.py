"""Cases held while their flow's remote model was down: found, locked and routed when it answers again.

A held case was recorded like any other (its prediction names the problem, its route the rule ``held``) but with
status ``held``, no task and no decision. Routing it later rewrites that one prediction and route in place, so a
case keeps one of each; what they said before stays in the case's ``case.submitted`` audit event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from sqlalchemy import Connection, Table, bindparam, func, select, update

from signoff.domain import CaseId, CaseStatus, Verdict
from signoff.store.records import CaseFields
from signoff.store.schema import cases, predictions, routes


@dataclass(frozen=True)
class Rerouted:
    """A held case's new score and route."""

    case_id: CaseId
    model_version_id: int
    probabilities: list[float] | None
    label: str | None
    confidence: float | None
    problem: str | None
    policy_version: str
    verdict: Verdict
    rule: str | None
    reason: str
    queue: str | None
    role: str | None
    priority: int
    sla: float | None
    inclusion_probability: float | None


def held(conn: Connection, flow: str, limit: int) -> list[CaseFields]:
    """The flow's oldest held cases, at most ``limit`` (a partial index holds only held cases)."""
    query = (
        select(cases.c.id, cases.c.fields)
        .where(cases.c.flow == flow, cases.c.status == CaseStatus.HELD.value)
        .order_by(cases.c.id)
        .limit(limit)
    )
    return [CaseFields.from_row(row) for row in conn.execute(query)]


def lock_held(conn: Connection, case_ids: Sequence[int]) -> set[CaseId]:
    """Those of ``case_ids`` still held, locked until the transaction ends (on PostgreSQL; SQLite's writers take
    turns): two processes never route the same held case twice."""
    query = (
        select(cases.c.id)
        .where(cases.c.id.in_(sorted(set(case_ids))), cases.c.status == CaseStatus.HELD.value)
        .with_for_update()
    )
    return {CaseId(i) for i in conn.execute(query).scalars()}


def count_held(conn: Connection, flow: str) -> int:
    """How many of the flow's cases are held."""
    query = select(func.count()).select_from(cases).where(cases.c.flow == flow, cases.c.status == CaseStatus.HELD.value)
    return int(conn.execute(query).scalar_one())


# what a held case's one prediction and one route are given when it is routed: fields of ``Rerouted``
PREDICTION = ("model_version_id", "probabilities", "label", "confidence", "problem")
ROUTE = ("policy_version", "verdict", "rule", "reason", "queue", "role", "priority", "sla", "inclusion_probability")


def reroute(conn: Connection, rerouted: Sequence[Rerouted], now: datetime) -> None:
    """Rewrite the held cases' prediction and route, and mark those sent to review ``in_review`` (a case decided
    by the model is marked decided with its decision, by ``store.cases.decide``)."""
    if not rerouted:
        return
    _by_case(conn, predictions, PREDICTION, rerouted, now)
    _by_case(conn, routes, ROUTE, rerouted, now)
    review = [r.case_id for r in rerouted if r.verdict is Verdict.REVIEW]
    if review:
        conn.execute(update(cases).where(cases.c.id.in_(review)).values(status=CaseStatus.IN_REVIEW.value))


def _by_case(conn: Connection, table: Table, names: Sequence[str], rerouted: Sequence[Rerouted], now: datetime) -> None:
    """Set ``names`` (columns of ``table`` and fields of ``Rerouted``) on the one row of ``table`` of each case (a
    case has one prediction and one route), and ``created_at`` to ``now``, in one executemany."""
    statement = (
        update(table)
        .where(table.c.case_id == bindparam("b_case_id"))
        .values({**{name: bindparam(f"b_{name}") for name in names}, "created_at": now})
    )
    rows = [{f"b_{name}": _bound(getattr(r, name)) for name in ("case_id", *names)} for r in rerouted]
    conn.execute(statement, rows)


def _bound(value: object) -> object:
    """A field as its column takes it: an enum (the verdict) as its value, not as a driver's idea of an enum."""
    return value.value if isinstance(value, Enum) else value
