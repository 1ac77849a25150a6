"""Model versions and policy versions: recorded once, referenced by every prediction and route."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from signoff.domain import ModelVersionId
from signoff.store.schema import model_versions, policy_versions


def find_model_version(conn: Connection, flow: str, version: str) -> tuple[ModelVersionId, str | None] | None:
    row = conn.execute(
        select(model_versions.c.id, model_versions.c.sha256).where(
            model_versions.c.flow == flow, model_versions.c.version == version
        )
    ).first()
    return None if row is None else (ModelVersionId(row.id), row.sha256)


def insert_model_version(
    conn: Connection,
    *,
    flow: str,
    version: str,
    kind: str,
    uri: str,
    sha256: str | None,
    labels: list[str],
    now: datetime,
) -> ModelVersionId:
    row = conn.execute(
        insert(model_versions)
        .values(flow=flow, version=version, kind=kind, uri=uri, sha256=sha256, labels=labels, created_at=now)
        .returning(model_versions.c.id)
    ).one()
    return ModelVersionId(row.id)


def has_policy_version(conn: Connection, version: str) -> bool:
    return (
        conn.execute(select(policy_versions.c.version).where(policy_versions.c.version == version)).first() is not None
    )


def insert_policy_version(
    conn: Connection, *, flow: str, version: str, document: dict[str, Any], now: datetime
) -> None:
    conn.execute(insert(policy_versions).values(version=version, flow=flow, document=document, created_at=now))
