"""The model registry's rows: model versions with their status and lineage, the training set tables they point
to, and the open review cases a new champion re-scores."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select
from sqlalchemy import update as sql_update

from signoff.domain import ModelVersionId
from signoff.store.records import CaseFields, RoutedCase
from signoff.store.schema import (
    cases,
    decisions,
    model_versions,
    predictions,
    reviews,
    routes,
    shadow_predictions,
    tasks,
    training_examples,
    training_sets,
)


def rows(conn: Connection, flow: str) -> list[Any]:
    """Every version of ``flow``, newest first."""
    query = (
        select(model_versions)
        .where(model_versions.c.flow == flow)
        .order_by(model_versions.c.created_at.desc(), model_versions.c.id.desc())
    )
    return list(conn.execute(query))


def row(conn: Connection, flow: str, version: str) -> Any | None:
    query = select(model_versions).where(model_versions.c.flow == flow, model_versions.c.version == version)
    return conn.execute(query).first()


def row_by_id(conn: Connection, flow: str, version_id: int) -> Any | None:
    query = select(model_versions).where(model_versions.c.flow == flow, model_versions.c.id == version_id)
    return conn.execute(query).first()


def lock_flow(conn: Connection, flow: str) -> None:
    """Lock the flow's version rows until the transaction ends (PostgreSQL; SQLite writers are serial already).
    FOR NO KEY UPDATE: intake's predictions, which reference a version, do not wait on it."""
    query = select(model_versions.c.id).where(model_versions.c.flow == flow)
    conn.execute(query.with_for_update(key_share=True)).all()


def by_fingerprint(conn: Connection, flow: str, fingerprint: str) -> Any | None:
    query = select(model_versions).where(model_versions.c.flow == flow, model_versions.c.fingerprint == fingerprint)
    return conn.execute(query).first()


def champion_row(conn: Connection, flow: str) -> Any | None:
    """The flow's champion (the newest one, should a race ever leave two)."""
    query = (
        select(model_versions)
        .where(model_versions.c.flow == flow, model_versions.c.status == "champion")
        .order_by(model_versions.c.status_changed_at.desc().nulls_last(), model_versions.c.id.desc())
        .limit(1)
    )
    return conn.execute(query).first()


def champion_ids(conn: Connection, flow: str) -> list[ModelVersionId]:
    query = select(model_versions.c.id).where(model_versions.c.flow == flow, model_versions.c.status == "champion")
    return [ModelVersionId(i) for i in conn.execute(query).scalars()]


def names(conn: Connection, flow: str) -> set[str]:
    return set(conn.execute(select(model_versions.c.version).where(model_versions.c.flow == flow)).scalars())


def insert_version(conn: Connection, values: dict[str, Any]) -> ModelVersionId:
    return ModelVersionId(conn.execute(insert(model_versions).values(**values).returning(model_versions.c.id)).one().id)


def set_status(
    conn: Connection, ids: list[ModelVersionId], status: str, actor: str, now: datetime, **canary: Any
) -> None:
    """``canary``: a canary's ``canary_share`` and ``canary_sticky_by``, written with its status."""
    if ids:
        conn.execute(
            sql_update(model_versions)
            .where(model_versions.c.id.in_(ids))
            .values(status=status, status_changed_at=now, status_changed_by=actor, **canary)
        )


def challenger_row(conn: Connection, flow: str) -> Any | None:
    """The flow's version in shadow or canary (the newest, should a race ever leave two)."""
    query = (
        select(model_versions)
        .where(model_versions.c.flow == flow, model_versions.c.status.in_(("shadow", "canary")))
        .order_by(model_versions.c.status_changed_at.desc().nulls_last(), model_versions.c.id.desc())
        .limit(1)
    )
    return conn.execute(query).first()


def status_held(conn: Connection, version_id: ModelVersionId) -> str:
    """A version's status, its row share-locked until the transaction ends (PostgreSQL; SQLite writers are serial):
    a status change, which locks the flow's rows for update, waits for the intake that read it, and the next
    intake reads the new status."""
    query = select(model_versions.c.status).where(model_versions.c.id == version_id)
    return str(conn.execute(query.with_for_update(read=True)).scalar_one())


def insert_shadow(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(shadow_predictions), rows)


def paired(conn: Connection, routed_by: ModelVersionId, beside: ModelVersionId) -> list[Any]:
    """The cases ``routed_by`` routed that ``beside`` scored without effect: each case's id, both versions'
    probabilities (None when invalid), its decision's label and who made it, and the route's inclusion
    probability (set when the random audit drew the case)."""
    query = (
        select(
            routes.c.case_id,
            predictions.c.probabilities.label("routed"),
            shadow_predictions.c.probabilities.label("beside"),
            routes.c.inclusion_probability,
            decisions.c.label,
            decisions.c.decided_by,
        )
        .select_from(
            shadow_predictions.join(routes, routes.c.case_id == shadow_predictions.c.case_id)
            .join(predictions, predictions.c.id == routes.c.prediction_id)
            .outerjoin(decisions, decisions.c.case_id == routes.c.case_id)
        )
        .where(shadow_predictions.c.model_version_id == beside, predictions.c.model_version_id == routed_by)
        .order_by(routes.c.case_id)
    )
    return list(conn.execute(query))


def audited(conn: Connection, beside: ModelVersionId) -> dict[int, str]:
    """The audit reviews' labels of the cases ``beside`` scored without effect, by case (the first review's)."""
    query = (
        select(reviews.c.case_id, reviews.c.label)
        .select_from(
            reviews.join(tasks, tasks.c.id == reviews.c.task_id).join(
                shadow_predictions, shadow_predictions.c.case_id == reviews.c.case_id
            )
        )
        .where(shadow_predictions.c.model_version_id == beside, tasks.c.kind == "audit")
        .order_by(reviews.c.id.desc())
    )
    return {int(r.case_id): str(r.label) for r in conn.execute(query)}


def lineage(conn: Connection, training_set_id: int) -> tuple[Any | None, list[Any]]:
    """A training set's row (window, flow, digest) and its examples, ordered by case id."""
    found = conn.execute(select(training_sets).where(training_sets.c.id == training_set_id)).first()
    examples = conn.execute(
        select(training_examples)
        .where(training_examples.c.training_set_id == training_set_id)
        .order_by(training_examples.c.case_id, training_examples.c.part)
    )
    return found, list(examples)


def source_counts(conn: Connection, flow: str) -> list[Any]:
    """For each version of ``flow`` trained on a recorded training set: the set's window and how many examples
    each label source gave (one row per version and source)."""
    query = (
        select(
            model_versions.c.version,
            model_versions.c.training_set_id,
            training_sets.c.window_start,
            training_sets.c.window_end,
            training_examples.c.source,
            func.count().label("examples"),
        )
        .select_from(
            model_versions.join(
                training_examples, training_examples.c.training_set_id == model_versions.c.training_set_id
            ).outerjoin(training_sets, training_sets.c.id == model_versions.c.training_set_id)
        )
        .where(model_versions.c.flow == flow)
        .group_by(
            model_versions.c.version,
            model_versions.c.training_set_id,
            training_sets.c.window_start,
            training_sets.c.window_end,
            training_examples.c.source,
        )
    )
    return list(conn.execute(query))


def recent_cases(conn: Connection, flow: str, limit: int) -> list[RoutedCase]:
    """The flow's latest routed cases, newest first: fields, and the version and confidence that routed them."""
    if limit <= 0:
        return []
    query = (
        select(cases.c.fields, predictions.c.model_version_id, predictions.c.confidence)
        .select_from(
            routes.join(cases, cases.c.id == routes.c.case_id).join(
                predictions, predictions.c.id == routes.c.prediction_id
            )
        )
        .where(cases.c.flow == flow)
        .order_by(routes.c.id.desc())
        .limit(limit)
    )
    return [RoutedCase.from_row(row) for row in conn.execute(query)]


def open_unscored(conn: Connection, flow: str, version_id: ModelVersionId) -> list[CaseFields]:
    """Cases of ``flow`` with a review task still open that ``version_id`` has not scored yet: id and fields."""
    scored = select(predictions.c.case_id).where(predictions.c.model_version_id == version_id)
    pending = select(tasks.c.case_id).where(tasks.c.flow == flow, tasks.c.status != "done")
    query = (
        select(cases.c.id, cases.c.fields)
        .where(cases.c.id.in_(pending), cases.c.id.not_in(scored))
        .order_by(cases.c.id)
    )
    return [CaseFields.from_row(row) for row in conn.execute(query)]
