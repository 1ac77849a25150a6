"""Model versions and policy versions: recorded once, referenced by every prediction and route; and the reads
behind their history (the model owner's pages)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, func, insert, select

from signoff.domain import ModelVersionId
from signoff.store.joins import reviews_with_task, routed
from signoff.store.schema import model_versions, policy_versions, predictions, reviews, routes, tasks


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
# What each version did (cases, flagged, routed) is counted in the rollups' version cells (``rollups.version_use``);
# gold cases are left out of every count: they are a lead's test items, not traffic the model or policy decided.


def policy_versions_of(conn: Connection, flow: str) -> list[Any]:
    """Every policy version recorded for ``flow``, newest first, with its document."""
    query = (
        select(policy_versions.c.version, policy_versions.c.document, policy_versions.c.created_at)
        .where(policy_versions.c.flow == flow)
        .order_by(policy_versions.c.created_at.desc(), policy_versions.c.version)
    )
    return list(conn.execute(query))


def model_versions_of(conn: Connection, flow: str) -> list[Any]:
    """Every model version recorded for ``flow``, newest first."""
    query = (
        select(
            model_versions.c.id,
            model_versions.c.version,
            model_versions.c.kind,
            model_versions.c.uri,
            model_versions.c.sha256,
            model_versions.c.created_at,
        )
        .where(model_versions.c.flow == flow)
        .order_by(model_versions.c.created_at.desc(), model_versions.c.id.desc())
    )
    return list(conn.execute(query))


def audit_sample(conn: Connection, flow: str) -> list[tuple[int, bool, float, int]]:
    """The random audit of ``flow``'s cases, counted by the database: (model version that decided the case, whether
    its label matched the first audit review of the case, the case's inclusion probability, cases). Only the first
    audit review of a case counts (the truth for the model's decision); no review comes back."""
    audited = reviews_with_task()
    first = (
        select(func.min(reviews.c.id))
        .select_from(audited)
        .where(tasks.c.flow == flow, tasks.c.kind == "audit")
        .group_by(reviews.c.case_id)
    )
    right = case((reviews.c.label == predictions.c.label, 1), else_=0)
    query = (
        select(predictions.c.model_version_id, right, routes.c.inclusion_probability, func.count())
        .select_from(routed(reviews, reviews.c.case_id))
        .where(reviews.c.id.in_(first), routes.c.inclusion_probability.is_not(None))
        .group_by(predictions.c.model_version_id, right, routes.c.inclusion_probability)
    )
    return [(int(model), bool(ok), float(pi), int(n)) for model, ok, pi, n in conn.execute(query)]
