"""Hourly cells of a flow's cases, folded from the cases' ids with a mark, and the raw case facts they are folded
from. What a cell holds (which kinds, which keys) is the metrics service's business; the store adds, sums and
marks.

The ids are the sequence: a case is immutable once recorded (its fields, the route it was given and the
prediction that route acted on), so folding each case once, in id order, keeps the cells exact. A fold goes only up
to ``final_case_id``: on PostgreSQL a writer that drew a lower id may commit after a higher one, so the mark is taken
under a SHARE lock on ``cases``, which waits for the writers in flight; on SQLite writers are serialised already.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, case, func, null, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from signoff.store.database import Database
from signoff.store.joins import routed
from signoff.store.schema import (
    as_utc,
    case_cells,
    cases,
    decisions,
    drift_references,
    predictions,
    rollup_marks,
    routes,
)

COUNTS = "cases"  # the counts' scopes (verdicts, the model's decisions, groups) start with it: Prometheus reads them
CellKey = tuple[datetime, str, str]  # (hour, kind, key)
Cells = dict[CellKey, tuple[int, float]]  # (count, total)


@dataclass(frozen=True)
class CaseFact:
    """What a cell is folded from: a case's fields and groups as recorded, its route's verdict and rule, the model's
    score, and the model's decision if it made one (at intake, in the case's own transaction)."""

    id: int
    created_at: datetime
    fields: Mapping[str, Any]
    groups: Mapping[str, Any]
    verdict: str
    rule: str | None
    confidence: float | None
    model_decision: str | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> CaseFact:
        confidence = None if row.confidence is None else float(row.confidence)
        decision = row.decision if row.decided_by == "model" else None
        return cls(
            int(row.id), row.created_at, row.fields or {}, row.groups or {}, str(row.verdict), row.rule, confidence,
            decision,
        )  # fmt: skip


@dataclass(frozen=True)
class CellSum:
    kind: str
    key: str
    count: int
    total: float


FACT_COLUMNS = ("fields", "groups")  # the JSON columns a fact can carry: decoding them is most of a fold's read


def _facts(reads: Iterable[str] = FACT_COLUMNS) -> Any:
    """``reads``: which of ``FACT_COLUMNS`` to fetch (the others come empty)."""
    fields, groups = (cases.c[name] if name in reads else null().label(name) for name in FACT_COLUMNS)
    return select(
        cases.c.id, cases.c.flow, cases.c.created_at, fields, groups, routes.c.verdict, routes.c.rule,
        predictions.c.confidence, decisions.c.label.label("decision"), decisions.c.decided_by,
    ).select_from(
        routed(cases, cases.c.id).outerjoin(decisions, decisions.c.case_id == cases.c.id)
    ).where(cases.c.status != "gold")  # fmt: skip


def facts_between(
    conn: Connection,
    flow: str,
    start: datetime,
    end: datetime,
    *,
    up_to: int | None = None,
    reads: Iterable[str] = FACT_COLUMNS,
) -> list[CaseFact]:
    """The flow's cases created in ``[start, end)`` (only those with an id up to ``up_to``, when given)."""
    query = _facts(reads).where(cases.c.flow == flow, cases.c.created_at >= start, cases.c.created_at < end)
    if up_to is not None:
        query = query.where(cases.c.id <= up_to)
    return [CaseFact.from_row(row) for row in conn.execute(query.order_by(cases.c.id))]


def facts_after(
    conn: Connection, flow: str, above: int, up_to: int | None = None, reads: Iterable[str] = FACT_COLUMNS
) -> list[CaseFact]:
    """The flow's cases with an id above ``above`` (and up to ``up_to``). The bound is on the primary key alone, so
    the read walks the ids from ``above`` whatever the statistics say; the flow is filtered on the rows found."""
    query = _facts(reads).where(cases.c.id > above)
    if up_to is not None:
        query = query.where(cases.c.id <= up_to)
    return [CaseFact.from_row(row) for row in conn.execute(query.order_by(cases.c.id)) if row.flow == flow]


def verdicts_between(
    conn: Connection, flow: str, start: datetime, end: datetime, *, up_to: int | None = None, above: int | None = None
) -> list[tuple[str, str | None, int]]:
    """(verdict, rule, cases) of the flow's cases created in ``[start, end)`` (with an id up to ``up_to``, or
    above ``above``, when given), counted by the database: what a window's part-hours add to its verdict cells,
    without reading the cases themselves."""
    query = (
        select(routes.c.verdict, routes.c.rule, func.count())
        .select_from(routed(cases, cases.c.id))
        .where(cases.c.status != "gold", cases.c.flow == flow, cases.c.created_at >= start, cases.c.created_at < end)
        .group_by(routes.c.verdict, routes.c.rule)
    )
    if up_to is not None:
        query = query.where(cases.c.id <= up_to)
    if above is not None:
        query = query.where(cases.c.id > above)
    return [(str(verdict), rule, int(n)) for verdict, rule, n in conn.execute(query)]


def final_case_id(db: Database) -> int:
    """The highest case id below which no case can still appear: on PostgreSQL, read once the writers in flight on
    ``cases`` have finished (a SHARE lock, released at once)."""
    with db.transaction(write=db.dialect == "postgresql") as conn:  # SQLite: no write lock to wait for, none taken
        db.run(conn, "settle_cases")
        return int(conn.execute(select(func.coalesce(func.max(cases.c.id), 0))).scalar_one())


def _reached(db: Database, flow: str, scopes: Iterable[str], target: int) -> dict[str, int] | None:
    """Each scope's mark, if every one of them is at ``target`` already (read without a write lock: a read that
    finds nothing new to fold never waits for the writers), else None."""
    with db.transaction(write=False) as conn:
        positions = {scope: mark(conn, flow, scope) for scope in scopes}
    return positions if all(p >= target for p in positions.values()) else None


def mark(conn: Connection, flow: str, scope: str) -> int:
    """Up to which case id ``scope`` is folded (0: nothing yet)."""
    query = select(rollup_marks.c.position).where(rollup_marks.c.flow == flow, rollup_marks.c.scope == scope)
    return int(conn.execute(query).scalar() or 0)


def _upsert(db: Database) -> Any:
    return pg_insert if db.dialect == "postgresql" else sqlite_insert


def _locked_mark(db: Database, conn: Connection, flow: str, scope: str, now: datetime) -> int:
    """The mark, locked for this transaction so that two folds of one scope never add the same cases twice."""
    statement = _upsert(db)(rollup_marks).values(flow=flow, scope=scope, position=0, updated_at=now)
    conn.execute(statement.on_conflict_do_nothing())
    query = select(rollup_marks.c.position).where(rollup_marks.c.flow == flow, rollup_marks.c.scope == scope)
    return int(conn.execute(query.with_for_update()).scalar_one())


def _add(db: Database, conn: Connection, flow: str, scope: str, cells: Cells) -> None:
    if not cells:
        return
    rows = [
        {"flow": flow, "scope": scope, "hour": hour, "kind": kind, "key": key, "count": count, "total": total}
        for (hour, kind, key), (count, total) in cells.items()
    ]
    statement = _upsert(db)(case_cells)
    statement = statement.on_conflict_do_update(
        index_elements=["flow", "scope", "hour", "kind", "key"],
        set_={
            "count": case_cells.c.count + statement.excluded.count,
            "total": case_cells.c.total + statement.excluded.total,
        },
    )
    conn.execute(statement, rows)


def fold(
    db: Database,
    flow: str,
    scopes: Mapping[str, Callable[[list[CaseFact]], Cells]],
    target: int,
    chunk: int = 20_000,
    reads: Iterable[str] = FACT_COLUMNS,
) -> dict[str, int]:
    """Fold the flow's cases up to id ``target`` into the cells of each of ``scopes`` (scope -> how its cells are
    made from facts), ``chunk`` ids per transaction (memory stays bounded and a killed fold keeps what it did).
    The new cases are read once for every scope; a scope whose mark is further on takes only the cases above it.
    ``reads``: the JSON columns any of the ``scopes`` looks at. Returns each scope's mark reached."""
    reads = tuple(reads)
    reached = _reached(db, flow, scopes, target)
    if reached is not None:
        return reached
    while True:
        with db.transaction() as conn:
            now = db.now(conn)
            positions = {scope: _locked_mark(db, conn, flow, scope, now) for scope in sorted(scopes)}
            lowest = min(positions.values(), default=target)
            if lowest >= target:
                return positions
            upper = min(lowest + chunk, target)
            facts = facts_after(conn, flow, lowest, upper, reads)
            for scope, position in positions.items():
                if position >= upper:
                    continue
                _add(db, conn, flow, scope, scopes[scope]([f for f in facts if f.id > position]))
                _move_mark(conn, flow, scope, upper, now)


def _move_mark(conn: Connection, flow: str, scope: str, position: int, now: datetime) -> None:
    query = update(rollup_marks).where(rollup_marks.c.flow == flow, rollup_marks.c.scope == scope)
    conn.execute(query.values(position=position, updated_at=now))


VERSIONS = "versions"  # the cells per model and policy version, folded by the database (named query fold_versions)
SEPARATOR = "\x1f"  # between the parts of a cell's key


def fold_versions(db: Database, flow: str, target: int, chunk: int = 200_000) -> int:
    """Fold the flow's cases up to id ``target`` into the ``VERSIONS`` cells: the database counts each chunk of
    ids and adds the counts to the cells (``INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE``), one
    transaction a chunk, under the scope's locked mark (see ``fold``). Returns the mark reached."""
    reached = _reached(db, flow, [VERSIONS], target)
    if reached is not None:
        return reached[VERSIONS]
    while True:
        with db.transaction() as conn:
            now = db.now(conn)
            position = _locked_mark(db, conn, flow, VERSIONS, now)
            if position >= target:
                return position
            upper = min(position + chunk, target)
            db.run(conn, "fold_versions", flow=flow, scope=VERSIONS, sep=SEPARATOR, above=position, upto=upper)
            _move_mark(conn, flow, VERSIONS, upper, now)


@dataclass(frozen=True)
class VersionUse:
    """What each model and policy version of a flow did, over all its cases (gold left out): per model version id,
    the cases routed on its predictions and how many were flagged; per policy version, the cases it routed and
    when it last routed one."""

    models: dict[int, tuple[int, int]]
    policies: dict[str, tuple[int, datetime]]


def version_use(conn: Connection, flow: str, mark: int) -> VersionUse:
    """The ``VERSIONS`` cells (folded up to case id ``mark``) plus the cases above the mark, counted by the
    database. A policy's last routing time is exact: the latest hour its cells hold, read from that hour's cases
    (a route is recorded with its case, at the case's time), or from the cases above the mark."""
    models: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    used: dict[str, int] = defaultdict(int)
    latest: dict[str, datetime] = {}
    cells = (
        select(case_cells.c.kind, case_cells.c.key, func.sum(case_cells.c.count), func.max(case_cells.c.hour))
        .where(case_cells.c.flow == flow, case_cells.c.scope == VERSIONS, case_cells.c.kind.in_(["model", "policy"]))
        .group_by(case_cells.c.kind, case_cells.c.key)
    )
    hours: dict[str, datetime] = {}
    for kind, key, n, hour in conn.execute(cells):
        if kind == "model":
            version, _, review = str(key).partition(SEPARATOR)
            models[int(version)][0] += int(n)
            models[int(version)][1] += int(n) if review == "1" else 0
        else:
            used[str(key)] += int(n)
            hours[str(key)] = as_utc(hour)
    for version, hour in hours.items():
        last = conn.execute(
            select(func.max(routes.c.created_at))
            .select_from(cases.join(routes, routes.c.case_id == cases.c.id))
            .where(
                cases.c.flow == flow,
                cases.c.created_at >= hour,
                cases.c.created_at < hour + timedelta(hours=1),
                cases.c.id <= mark,
                cases.c.status != "gold",
                routes.c.policy_version == version,
            )
        ).scalar()
        if last is not None:
            latest[version] = last
    # the cases above the mark: the bound is on the primary key alone (every flow grouped, this one kept), so the
    # statement walks the ids above the mark whatever the statistics say, never a flow's whole index range
    flagged = case((routes.c.verdict == "review", 1), else_=0)
    tail = (
        select(
            cases.c.flow, predictions.c.model_version_id, routes.c.policy_version, func.count(), func.sum(flagged),
            func.max(routes.c.created_at),
        )
        .select_from(routed(cases, cases.c.id))
        .where(cases.c.id > mark, cases.c.status != "gold")
        .group_by(cases.c.flow, predictions.c.model_version_id, routes.c.policy_version)
    )  # fmt: skip
    for of_flow, model, policy, n, review, last in conn.execute(tail):
        if of_flow != flow:
            continue
        models[int(model)][0] += int(n)
        models[int(model)][1] += int(review)
        used[str(policy)] += int(n)
        last = as_utc(last)
        latest[str(policy)] = max(latest.get(str(policy), last), last)
    return VersionUse(
        {version: (n, f) for version, (n, f) in models.items()},
        {version: (n, latest[version]) for version, n in used.items() if version in latest},
    )


def sums(
    conn: Connection, flow: str, scope: str, start: datetime, end: datetime, kinds: Iterable[str]
) -> list[CellSum]:
    """Per (kind, key), the cells of the hours in ``[start, end)`` added up."""
    query = (
        select(case_cells.c.kind, case_cells.c.key, func.sum(case_cells.c.count), func.sum(case_cells.c.total))
        .where(
            case_cells.c.flow == flow,
            case_cells.c.scope == scope,
            case_cells.c.hour >= start,
            case_cells.c.hour < end,
            case_cells.c.kind.in_(sorted(kinds)),
        )
        .group_by(case_cells.c.kind, case_cells.c.key)
    )
    return [CellSum(str(k), str(key), int(n), float(t)) for k, key, n, t in conn.execute(query)]


def hourly(conn: Connection, flow: str, scope: str, start: datetime, end: datetime, kind: str) -> Cells:
    """The cells of one kind, hour by hour, in ``[start, end)``."""
    query = select(case_cells.c.hour, case_cells.c.key, case_cells.c.count, case_cells.c.total).where(
        case_cells.c.flow == flow,
        case_cells.c.scope == scope,
        case_cells.c.hour >= start,
        case_cells.c.hour < end,
        case_cells.c.kind == kind,
    )
    return {(hour, kind, str(key)): (int(n), float(t)) for hour, key, n, t in conn.execute(query)}


def stored_reference(conn: Connection, flow: str, name: str) -> dict[str, Any] | None:
    query = select(drift_references.c.document).where(drift_references.c.flow == flow, drift_references.c.name == name)
    document: dict[str, Any] | None = conn.execute(query).scalar()
    return document


def store_reference(db: Database, flow: str, name: str, document: dict[str, Any]) -> None:
    """Keep a reference that can no longer change (a second writer's identical copy is dropped)."""
    with db.transaction() as conn:
        statement = _upsert(db)(drift_references).values(flow=flow, name=name, document=document)
        conn.execute(statement.on_conflict_do_nothing())


def totals(conn: Connection, flows: Iterable[str]) -> tuple[list[tuple[str, str, int]], dict[str, int]]:
    """All-time counts per flow for Prometheus, from each flow's newest counts scope plus the cases above its mark
    (every case, for a flow no read has folded yet): (flow, verdict, cases) and, per flow, the cases the model
    decided at intake. ``flows``: the project's flows."""
    flows = list(flows)
    newest: dict[str, tuple[str, int]] = {}
    query = select(rollup_marks.c.flow, rollup_marks.c.scope, rollup_marks.c.position).where(
        rollup_marks.c.scope.startswith(COUNTS + ":")
    )
    for flow, scope, position in conn.execute(query.order_by(rollup_marks.c.updated_at)):
        newest[str(flow)] = (str(scope), int(position))
    verdicts: dict[tuple[str, str], int] = {}
    by_model: dict[str, int] = {}
    for flow, (scope, _) in newest.items():
        cells = (
            select(case_cells.c.kind, case_cells.c.key, func.sum(case_cells.c.count))
            .where(
                case_cells.c.flow == flow, case_cells.c.scope == scope, case_cells.c.kind.in_(["verdict", "decided"])
            )
            .group_by(case_cells.c.kind, case_cells.c.key)
        )
        for kind, key, n in conn.execute(cells):
            if kind == "decided":
                by_model[flow] = by_model.get(flow, 0) + int(n)
            else:
                verdict = str(key).partition("\x1f")[0]
                verdicts[(flow, verdict)] = verdicts.get((flow, verdict), 0) + int(n)
    # the cases above each flow's own mark, in one pass along the ids from the lowest mark
    marks = {flow: position for flow, (_, position) in newest.items()}
    above = min((marks.get(flow, 0) for flow in flows), default=0)
    where = [cases.c.id > above, cases.c.status != "gold"]
    if marks:
        where.append(cases.c.id > case(marks, value=cases.c.flow, else_=0))
    is_model = case((decisions.c.decided_by == "model", 1), else_=0)
    tail = (
        select(cases.c.flow, routes.c.verdict, func.count(), func.sum(is_model))
        .select_from(routed(cases, cases.c.id).outerjoin(decisions, decisions.c.case_id == cases.c.id))
        .where(*where)
        .group_by(cases.c.flow, routes.c.verdict)
    )
    for flow, verdict, n, model in conn.execute(tail):
        verdicts[(flow, verdict)] = verdicts.get((flow, verdict), 0) + int(n)
        by_model[flow] = by_model.get(flow, 0) + int(model or 0)
    return [(flow, verdict, n) for (flow, verdict), n in sorted(verdicts.items())], by_model
