"""Cases held while their flow's remote model was down: found, locked and routed when it answers again.

A held case was recorded like any other (its prediction names the problem, its route the rule ``held``) but with
status ``held``, no task and no decision. Routing it later rewrites that one prediction and route in place, so a
case keeps one of each; what they said before stays in the case's ``case.submitted`` audit event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, func, select, update

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


def reroute(conn: Connection, rerouted: Sequence[Rerouted], now: datetime) -> None:
    """Rewrite the held cases' prediction and route, and mark those sent to review ``in_review`` (a case decided
    by the model is marked decided with its decision, by ``store.cases.decide``)."""
    if not rerouted:
        return
    scored = (
        update(predictions)
        .where(predictions.c.case_id == bindparam("b_case"))
        .values(
            model_version_id=bindparam("b_version"),
            probabilities=bindparam("b_probabilities"),
            label=bindparam("b_label"),
            confidence=bindparam("b_confidence"),
            problem=bindparam("b_problem"),
            created_at=now,
        )
    )
    conn.execute(
        scored,
        [
            {
                "b_case": r.case_id,
                "b_version": r.model_version_id,
                "b_probabilities": r.probabilities,
                "b_label": r.label,
                "b_confidence": r.confidence,
                "b_problem": r.problem,
            }
            for r in rerouted
        ],
    )
    routed = (
        update(routes)
        .where(routes.c.case_id == bindparam("b_case"))
        .values(
            policy_version=bindparam("b_policy"),
            verdict=bindparam("b_verdict"),
            rule=bindparam("b_rule"),
            reason=bindparam("b_reason"),
            queue=bindparam("b_queue"),
            role=bindparam("b_role"),
            priority=bindparam("b_priority"),
            sla=bindparam("b_sla"),
            inclusion_probability=bindparam("b_inclusion"),
            created_at=now,
        )
    )
    conn.execute(
        routed,
        [
            {
                "b_case": r.case_id,
                "b_policy": r.policy_version,
                "b_verdict": r.verdict.value,
                "b_rule": r.rule,
                "b_reason": r.reason,
                "b_queue": r.queue,
                "b_role": r.role,
                "b_priority": r.priority,
                "b_sla": r.sla,
                "b_inclusion": r.inclusion_probability,
            }
            for r in rerouted
        ],
    )
    review = [r.case_id for r in rerouted if r.verdict is Verdict.REVIEW]
    if review:
        conn.execute(update(cases).where(cases.c.id.in_(review)).values(status=CaseStatus.IN_REVIEW.value))
