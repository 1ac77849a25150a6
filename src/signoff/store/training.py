"""Training sets and their examples: written once, read back as a model's lineage."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Row, insert, select

from signoff.store.schema import cases, model_versions, training_examples, training_sets

_CHUNK = 1000  # ids per IN list: well under both databases' limits on bound parameters


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def case_facts(conn: Connection, case_ids: Sequence[int]) -> dict[int, Row[Any]]:
    """Each existing case's flow, status and time, by id: what a training set checks its labels against."""
    found: dict[int, Row[Any]] = {}
    for chunk in _chunks(case_ids):
        query = select(cases.c.id, cases.c.flow, cases.c.status, cases.c.created_at).where(cases.c.id.in_(chunk))
        found.update({row.id: row for row in conn.execute(query)})
    return found


def case_fields(conn: Connection, case_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Each case's submitted fields, by id."""
    found: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(case_ids):
        found.update(
            {
                row.id: row.fields
                for row in conn.execute(select(cases.c.id, cases.c.fields).where(cases.c.id.in_(chunk)))
            }
        )
    return found


def insert_training_set(conn: Connection, examples: Sequence[dict[str, Any]], **values: Any) -> int:
    """The set's row, then its examples (dicts without ``training_set_id``); returns the new set's id."""
    set_id: int = conn.execute(insert(training_sets).values(**values).returning(training_sets.c.id)).scalar_one()
    if examples:
        conn.execute(insert(training_examples), [{"training_set_id": set_id, **e} for e in examples])
    return set_id


def latest_training_set(conn: Connection, flow: str) -> Row[Any] | None:
    """The flow's most recently recorded set."""
    query = select(training_sets).where(training_sets.c.flow == flow).order_by(training_sets.c.id.desc()).limit(1)
    return conn.execute(query).first()


def training_set(conn: Connection, training_set_id: int) -> Row[Any] | None:
    return conn.execute(select(training_sets).where(training_sets.c.id == training_set_id)).first()


def examples(conn: Connection, training_set_id: int) -> list[Row[Any]]:
    """A set's examples with their case's time, oldest case first (the order the set was split in)."""
    query = (
        select(training_examples, cases.c.created_at.label("case_created_at"))
        .select_from(training_examples.join(cases, cases.c.id == training_examples.c.case_id))
        .where(training_examples.c.training_set_id == training_set_id)
        .order_by(cases.c.created_at, training_examples.c.case_id)
    )
    return list(conn.execute(query))


def trained_on(conn: Connection, training_set_id: int) -> list[str]:
    """The model versions trained on a set, oldest first."""
    query = select(model_versions.c.version).where(model_versions.c.training_set_id == training_set_id)
    return list(conn.execute(query.order_by(model_versions.c.id)).scalars())
