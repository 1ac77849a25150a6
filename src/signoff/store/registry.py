"""Model versions and policy versions: recorded once, referenced by every prediction and route; and the reads
behind their history (the model owner's pages)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, FromClause, Subquery, case, distinct, func, insert, select

from signoff.domain import ModelVersionId
from signoff.store.joins import ANSWER, MODEL_LABEL, reviews_with_task, routed
from signoff.store.schema import cases, model_versions, policy_versions, predictions, reviews, routes, tasks


def find_model_version(conn: Connection, flow: str, version: str) -> tuple[ModelVersionId, str | None] | None:
    row = conn.execute(
        select(model_versions.c.id, model_versions.c.sha256).where(
            model_versions.c.flow == flow, model_versions.c.version == version
        )
    ).first()
    return None if row is None else (ModelVersionId(row.id), row.sha256)


def has_policy_version(conn: Connection, version: str) -> bool:
    return (
        conn.execute(select(policy_versions.c.version).where(policy_versions.c.version == version)).first() is not None
    )


def insert_policy_version(
    conn: Connection, *, flow: str, version: str, document: dict[str, Any], now: datetime
) -> None:
    conn.execute(insert(policy_versions).values(version=version, flow=flow, document=document, created_at=now))


# ---- history ---------------------------------------------------------------------------------------------------
# Gold cases are left out of every count: they are a lead's test items, not traffic the model or policy decided.


def _traffic(flow: str, source: FromClause, version: ColumnElement[Any], *measures: ColumnElement[Any]) -> Subquery:
    """The ``measures`` of the flow's cases (gold left out) in ``source``, per ``version``."""
    query = select(version, *measures).select_from(source).where(cases.c.flow == flow, cases.c.status != "gold")
    return query.group_by(version).subquery()


def policy_history(conn: Connection, flow: str) -> list[Any]:
    """Every policy version recorded for ``flow``, newest first, with its document, the number of cases it
    routed and when it last routed one."""
    used = _traffic(
        flow,
        routes.join(cases, cases.c.id == routes.c.case_id),
        routes.c.policy_version,
        func.count().label("routed"),
        func.max(routes.c.created_at).label("last_routed_at"),
    )
    query = (
        select(
            policy_versions.c.version,
            policy_versions.c.document,
            policy_versions.c.created_at,
            func.coalesce(used.c.routed, 0).label("routed"),
            used.c.last_routed_at,
        )
        .select_from(policy_versions.outerjoin(used, used.c.policy_version == policy_versions.c.version))
        .where(policy_versions.c.flow == flow)
        .order_by(policy_versions.c.created_at.desc(), policy_versions.c.version)
    )
    return list(conn.execute(query))


def model_history(conn: Connection, flow: str) -> list[Any]:
    """Every model version recorded for ``flow``, newest first, with the cases it scored and how many of them
    its routes sent to review."""
    scored = _traffic(
        flow,
        predictions.join(cases, cases.c.id == predictions.c.case_id).join(
            routes, routes.c.prediction_id == predictions.c.id
        ),
        predictions.c.model_version_id,
        func.count(distinct(predictions.c.case_id)).label("cases"),
        func.count(distinct(case((routes.c.verdict == "review", predictions.c.case_id)))).label("flagged"),
    )
    query = (
        select(
            model_versions.c.id,
            model_versions.c.version,
            model_versions.c.kind,
            model_versions.c.uri,
            model_versions.c.sha256,
            model_versions.c.created_at,
            func.coalesce(scored.c.cases, 0).label("cases"),
            func.coalesce(scored.c.flagged, 0).label("flagged"),
        )
        .select_from(model_versions.outerjoin(scored, scored.c.model_version_id == model_versions.c.id))
        .where(model_versions.c.flow == flow)
        .order_by(model_versions.c.created_at.desc(), model_versions.c.id.desc())
    )
    return list(conn.execute(query))


def audit_reviews(conn: Connection, flow: str) -> list[Any]:
    """Reviews of ``flow``'s random audit tasks, oldest first: the model version that decided the case, its label,
    the reviewer's label and the case's inclusion probability (the audit's unbiased sample of each version)."""
    query = (
        select(*ANSWER, predictions.c.model_version_id, MODEL_LABEL, routes.c.inclusion_probability)
        .select_from(routed(reviews_with_task(), reviews.c.case_id))
        .where(tasks.c.flow == flow, tasks.c.kind == "audit", routes.c.inclusion_probability.is_not(None))
        .order_by(reviews.c.id)
    )
    return list(conn.execute(query))
