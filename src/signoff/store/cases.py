"""Cases and everything that hangs off them: predictions, routes, tasks and decisions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from enum import Enum
from typing import TYPE_CHECKING, Any, get_args, get_type_hints

from sqlalchemy import JSON, ColumnElement, Connection, Table, and_, any_, bindparam, cast, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY

from signoff import jsontext
from signoff.domain import CaseId, CaseStatus, DecidedBy, Fields, TaskId, TaskKind, UserId
from signoff.store.database import Database, stored_time, write_rows
from signoff.store.joins import reviews_with_task, routed
from signoff.store.records import (
    Case,
    CaseRoute,
    Decision,
    EarlierCase,
    Lease,
    NewCases,
    Prediction,
    Review,
    SealedDecision,
    Submitted,
    Task,
    Verified,
)
from signoff.store.schema import (
    Id,
    UtcDateTime,
    audit_events,
    audit_seals,
    cases,
    decisions,
    leases,
    model_versions,
    predictions,
    reviews,
    routes,
    tasks,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def _among(conn: Connection, column: ColumnElement[Any], values: Sequence[object]) -> ColumnElement[bool]:
    """``column IN values`` for a few thousand values: on PostgreSQL one array parameter (``= ANY``), which
    psycopg sends as is, where an expanded IN list of 5,000 took it longer to parse than the query took to run."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def find_external(conn: Connection, flow: str, external_ids: Sequence[str]) -> dict[str, tuple[CaseId, str]]:
    """Earlier cases of this flow with these external ids: by external id, the case's id and payload hash."""
    found: dict[str, tuple[CaseId, str]] = {}
    for start in range(0, len(external_ids), 5000):
        chunk = external_ids[start : start + 5000]
        query = select(cases.c.id, cases.c.external_id, cases.c.payload_hash).where(
            cases.c.flow == flow, _among(conn, cases.c.external_id, chunk)
        )
        found.update({row.external_id: (CaseId(row.id), row.payload_hash) for row in conn.execute(query)})
    return found


@dataclass(frozen=True)
class _Columns:
    """What a record writes of itself: the fields that are columns of its table, but the id (given by ``reserve``;
    related records and read-only joined values, such as a prediction's ``model_version`` name, are not), and
    which of them are enums (stored by their value), JSON documents and times."""

    names: tuple[str, ...]
    enums: tuple[str, ...]
    documents: tuple[str, ...]
    times: tuple[str, ...]


def _columns(record: type[DataclassInstance], table: Table) -> _Columns:
    hints = get_type_hints(record)
    names = tuple(f.name for f in fields(record) if f.name in table.c and f.name != "id")
    enums = tuple(
        n for n in names if any(isinstance(t, type) and issubclass(t, Enum) for t in (hints[n], *get_args(hints[n])))
    )
    documents = tuple(n for n in names if isinstance(table.c[n].type, JSON))
    times = tuple(n for n in names if isinstance(table.c[n].type, UtcDateTime))
    return _Columns(names, enums, documents, times)


def _reserve(conn: Connection, table: Table, n: int) -> list[int]:
    """Ids for ``n`` rows of ``table`` to write in this transaction, ascending, so that a batch is written in bulk
    and without RETURNING. PostgreSQL draws them from the column's sequence: concurrent writers never share one.
    SQLite takes those above the highest id, as it does itself for a new rowid: the write transaction holds the
    database's one write lock from its BEGIN IMMEDIATE, so no other writer comes between (the rows are written before
    reserving again for the same table)."""
    if n <= 0:
        return []
    if conn.dialect.name == "postgresql":
        drawn = func.nextval(func.pg_get_serial_sequence(table.name, "id"))
        return sorted(conn.execute(select(drawn).select_from(func.generate_series(1, n))).scalars())
    top = int(conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one())
    return list(range(top + 1, top + 1 + n))


def _value_columns(conn: Connection, columns: _Columns, new: Sequence[object]) -> list[list[object]]:
    """The values of records as ``write_rows`` binds them, a column at a time."""
    found: list[list[object]] = []
    for name in columns.names:
        values: list[Any] = [getattr(r, name) for r in new]
        if name in columns.enums:
            values = [v.value if isinstance(v, Enum) else v for v in values]
        elif name in columns.documents:
            values = [None if v is None else json.dumps(v) for v in values]
        elif name in columns.times:
            values = [None if v is None else stored_time(conn, v) for v in values]
        found.append(values)
    return found


def _insert_with_ids(conn: Connection, table: Table, columns: _Columns, new: Sequence[object]) -> list[int]:
    """Write records in bulk under ids reserved for them; their ids, in order."""
    ids = _reserve(conn, table, len(new))
    if ids:
        names = ("id", *columns.names)
        write_rows(conn, table.name, names, zip(ids, *_value_columns(conn, columns, new), strict=True))
    return ids


_PREDICTION_COLUMNS = _columns(Prediction, predictions)
_TASK_COLUMNS = _columns(Task, tasks)


def insert_predictions(conn: Connection, new: Sequence[Prediction]) -> list[int]:
    """Insert predictions (their ``id`` and ``model_version`` name are not written) in bulk; their ids, in order."""
    return _insert_with_ids(conn, predictions, _PREDICTION_COLUMNS, new)


def insert_tasks(conn: Connection, new: Sequence[Task]) -> list[Task]:
    """Insert tasks (their ``id`` and ``leases`` are not written) in bulk; them with their ids."""
    ids = _insert_with_ids(conn, tasks, _TASK_COLUMNS, new)
    return [replace(t, id=TaskId(i)) for t, i in zip(new, ids, strict=True)]


_NEW_CASE = (
    "id flow external_id fields payload_hash groups status created_at decided_at submitted_by traceparent entity"
)
_NEW_PREDICTION = "id case_id model_version_id probabilities label confidence problem created_at"
_NEW_ROUTE = (
    "case_id prediction_id policy_version verdict rule reason queue priority created_at role sla inclusion_probability"
)


def new_case_ids(db: Database, conn: Connection, n: int) -> list[CaseId]:
    """Ids for ``n`` cases that ``insert_new`` writes next in this transaction, drawn under the writer's lock on
    ``cases`` (``reserve_cases``) that the rollups' ``settle_cases`` waits for."""
    db.run(conn, "reserve_cases")
    return [CaseId(i) for i in _reserve(conn, cases, n)]


_JSON = json.JSONEncoder()  # what ``json.dumps`` writes


def insert_new(conn: Connection, new: NewCases) -> None:
    """Record a batch of new cases (under ids from ``new_case_ids``) with their predictions and routes, in bulk."""
    now = stored_time(conn, new.created_at)
    n = len(new.case_ids)
    prediction_ids = _reserve(conn, predictions, n)
    write_rows(
        conn,
        cases.name,
        _NEW_CASE.split(),
        zip(
            new.case_ids,
            [new.flow] * n,
            new.external_ids,
            jsontext.rows(new.fields, _JSON),
            new.payload_hashes,
            jsontext.rows(new.groups, _JSON),
            [s.value for s in new.statuses],
            [now] * n,
            [now if d else None for d in new.decided],
            [new.submitted_by] * n,
            new.traceparents,
            new.entities,
            strict=True,
        ),
    )
    write_rows(
        conn,
        predictions.name,
        _NEW_PREDICTION.split(),
        zip(
            prediction_ids,
            new.case_ids,
            new.model_version_ids,
            jsontext.arrays(new.probabilities, _JSON),
            new.labels,
            new.confidences,
            new.problems,
            [now] * n,
            strict=True,
        ),
    )
    write_rows(
        conn,
        routes.name,
        _NEW_ROUTE.split(),
        zip(
            new.case_ids,
            prediction_ids,
            [new.policy_version] * n,
            [v.value for v in new.verdicts],
            new.rules,
            new.reasons,
            new.queues,
            new.priorities,
            [now] * n,
            new.roles,
            new.slas,
            new.inclusion_probabilities,
            strict=True,
        ),
    )


def _decision_row(decision: Decision) -> dict[str, object]:
    return {
        "case_id": decision.case_id,
        "label": decision.label,
        "decided_by": decision.decided_by.value,
        "model_version_id": decision.model_version_id,
        "review_id": decision.review_id,
    }


def insert_decisions(conn: Connection, made: Sequence[Decision]) -> None:
    """Record decisions made at intake (their cases are recorded as decided already), in bulk."""
    names = ("case_id", "label", "decided_by", "model_version_id", "review_id", "created_at")
    rows = (
        (d.case_id, d.label, d.decided_by.value, d.model_version_id, d.review_id, stored_time(conn, d.created_at))
        for d in made
    )
    if made:
        write_rows(conn, decisions.name, names, rows)


def decide(db: Database, conn: Connection, decision: Decision) -> None:
    """Record a case's one decision and mark the case decided."""
    db.run(conn, "insert_decision", **_decision_row(decision), now=decision.created_at)
    db.run(conn, "mark_decided", case_id=decision.case_id, now=decision.created_at)


def exists(conn: Connection, case_id: int) -> bool:
    return conn.execute(select(cases.c.id).where(cases.c.id == case_id)).first() is not None


def flow_of(conn: Connection, case_id: int) -> str | None:
    """The flow of a case, or None if there is no such case."""
    return conn.execute(select(cases.c.flow).where(cases.c.id == case_id)).scalar_one_or_none()


def flows_of(conn: Connection, case_ids: Sequence[int]) -> dict[int, str]:
    if not case_ids:
        return {}
    rows = conn.execute(select(cases.c.id, cases.c.flow).where(cases.c.id.in_(sorted(set(case_ids)))))
    return {int(row.id): str(row.flow) for row in rows}


def four_eyes(conn: Connection, case_id: int, user_id: UserId, name: str) -> str | None:
    """Why this user may not answer on this case (they submitted it, or answered it already), or None."""
    if conn.execute(select(cases.c.id).where(cases.c.id == case_id, cases.c.submitted_by == name)).first():
        return f"{name} submitted case {case_id}"
    answered = select(reviews.c.id).where(reviews.c.case_id == case_id, reviews.c.reviewer_id == user_id).limit(1)
    if conn.execute(answered).first():
        return f"{name} has answered on case {case_id} already"
    return None


def decision_of(conn: Connection, case_id: CaseId) -> str | None:
    return conn.execute(select(decisions.c.label).where(decisions.c.case_id == case_id)).scalar_one_or_none()


def decisions_after(conn: Connection, flow: str, seq: int, limit: int) -> list[SealedDecision]:
    """The flow's decisions whose sealed event comes after ``seq``, in seal (commit) order: the model's at intake
    (inside ``case.submitted``, whose case the model decided) and every later one (``case.decided``). Read from
    the seals' key, each event by its id, each case by its id."""
    deciding = and_(
        audit_events.c.entity == "case",
        or_(
            audit_events.c.action == "case.decided",
            and_(audit_events.c.action == "case.submitted", decisions.c.decided_by == DecidedBy.MODEL.value),
        ),
    )
    query = (
        select(audit_seals.c.seq, cases.c.external_id, *decisions.c)
        .select_from(
            audit_seals.join(audit_events, audit_events.c.id == audit_seals.c.event_id)
            .join(decisions, decisions.c.case_id == cast(audit_events.c.entity_id, Id))
            .join(cases, cases.c.id == decisions.c.case_id)
        )
        .where(audit_seals.c.seq > seq, deciding, cases.c.flow == flow)
        .order_by(audit_seals.c.seq)
        .limit(limit)
    )
    return [SealedDecision.from_row(row) for row in conn.execute(query)]


def summaries(conn: Connection, case_ids: Sequence[int]) -> dict[int, Submitted]:
    """What a submitter needs to know of each case: its route and, if made, its decision."""
    query = (
        select(
            cases.c.id.label("case_id"),
            cases.c.external_id,
            cases.c.status,
            routes.c.verdict,
            routes.c.rule,
            routes.c.reason,
            routes.c.queue,
            decisions.c.label.label("decision"),
            decisions.c.decided_by,
        )
        .select_from(cases.join(routes, routes.c.case_id == cases.c.id).outerjoin(decisions))
        .where(_among(conn, cases.c.id, case_ids))
    )
    return {row.case_id: Submitted.from_row(row) for row in conn.execute(query)}


def case_record(conn: Connection, case_id: int) -> Case | None:
    """The whole record of one case, for reviewers, submitters and auditors."""
    case = conn.execute(select(cases).where(cases.c.id == case_id)).first()
    if case is None:
        return None
    predicted = (
        select(predictions, model_versions.c.version.label("model_version"))
        .join(model_versions)
        .where(predictions.c.case_id == case_id)
        .order_by(predictions.c.id)
    )
    task_rows = [
        Task.from_row(r) for r in conn.execute(select(tasks).where(tasks.c.case_id == case_id).order_by(tasks.c.id))
    ]
    leased = select(leases).where(leases.c.task_id.in_([t.id for t in task_rows])).order_by(leases.c.token)
    lease_rows = [Lease.from_row(r) for r in conn.execute(leased)]
    decision = conn.execute(select(decisions).where(decisions.c.case_id == case_id)).first()
    return replace(
        Case.from_row(case),
        predictions=tuple(Prediction.from_row(r) for r in conn.execute(predicted)),
        routes=tuple(
            CaseRoute.from_row(r)
            for r in conn.execute(select(routes).where(routes.c.case_id == case_id).order_by(routes.c.id))
        ),
        tasks=tuple(replace(t, leases=tuple(x for x in lease_rows if x.task_id == t.id)) for t in task_rows),
        reviews=tuple(
            Review.from_row(r)
            for r in conn.execute(select(reviews).where(reviews.c.case_id == case_id).order_by(reviews.c.id))
        ),
        decision=None if decision is None else Decision.from_row(decision),
    )


def verified(conn: Connection, flow: str, model_version_id: int) -> list[Verified]:
    """Reviews of cases that were sampled for verification (the random audit, or a census while a rule could not
    certify), scored by this model version: unbiased labels with the probabilities the model gave."""
    query = (
        select(reviews.c.label, predictions.c.probabilities, cases.c.fields)
        .select_from(routed(reviews_with_task().join(cases, cases.c.id == reviews.c.case_id), reviews.c.case_id))
        .where(
            tasks.c.flow == flow,
            routes.c.inclusion_probability.is_not(None),
            predictions.c.model_version_id == model_version_id,
            predictions.c.problem.is_(None),
        )
        .order_by(reviews.c.id)
    )
    return [Verified.from_row(row) for row in conn.execute(query)]


def predicted_label(conn: Connection, case_id: int) -> tuple[str | None, int]:
    """The label of the case's latest prediction (None if the output was invalid) and its model version."""
    row = conn.execute(
        select(predictions.c.label, predictions.c.model_version_id)
        .where(predictions.c.case_id == case_id)
        .order_by(predictions.c.id.desc())
        .limit(1)
    ).one()
    return row.label, int(row.model_version_id)


def lock(conn: Connection, case_id: int) -> None:
    """Serialise the settling of one case (a row lock on PostgreSQL; SQLite writers are serial already)."""
    # FOR NO KEY UPDATE: it does not wait on the key-share locks that inserting reviews takes on the case.
    conn.execute(select(cases.c.id).where(cases.c.id == case_id).with_for_update(key_share=True))


def consensus_answers(conn: Connection, case_id: int) -> list[str | None]:
    """The label of each review task of the case (None while a task is still open)."""
    query = (
        select(reviews.c.label)
        .select_from(tasks.outerjoin(reviews, reviews.c.task_id == tasks.c.id))
        .where(tasks.c.case_id == case_id, tasks.c.kind == TaskKind.REVIEW.value)
        .order_by(tasks.c.id)
    )
    return list(conn.execute(query).scalars())


def recent_fields(conn: Connection, flow: str, limit: int) -> list[Fields]:
    """The fields of this flow's latest cases, newest first (a sample for reference values)."""
    query = select(cases.c.fields).where(cases.c.flow == flow).order_by(cases.c.id.desc()).limit(limit)
    return [dict(f) for f in conn.execute(query).scalars()]


def earlier_on_entity(conn: Connection, flow: str, entity: str, before: int, limit: int) -> list[EarlierCase]:
    """The latest cases of this flow about the same entity before case ``before``, newest first, each with its
    decision if it has one (gold cases left out: they are tests, not history). Walks ``ix_cases_flow_entity``."""
    query = (
        select(
            cases.c.id,
            cases.c.external_id,
            cases.c.created_at,
            cases.c.status,
            decisions.c.label,
            decisions.c.decided_by,
            decisions.c.created_at.label("decided_at"),
        )
        .select_from(cases.outerjoin(decisions, decisions.c.case_id == cases.c.id))
        .where(
            cases.c.flow == flow,
            cases.c.entity == entity,
            cases.c.id < before,
            cases.c.status != CaseStatus.GOLD.value,
        )
        .order_by(cases.c.id.desc())
        .limit(limit)
    )
    return [EarlierCase.from_row(row) for row in conn.execute(query)]
