"""The reads behind the metrics: a flow's cases, tasks and reviews in a time window, and the live counts that
Prometheus scrapes. Plain SQLAlchemy Core; the formulas themselves live in ``signoff.metrics``."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Float, Integer, and_, case, cast, func, or_, select, text

from signoff.store.joins import ANSWER, DECISION, MODEL_LABEL, reviews_with_task, routed
from signoff.store.schema import (
    NOT_MODEL,
    audit_events,
    cases,
    decisions,
    gold_answers,
    leases,
    predictions,
    reviews,
    routes,
    tasks,
)


def _bucket(column: Any, edges: Sequence[datetime]) -> Any:
    """Which window between consecutive ``edges`` a time falls in (0 the first); rows outside are filtered out."""
    return case(*((column < edge, i) for i, edge in enumerate(edges[1:])), else_=len(edges) - 1)


def _in(column: Any, edges: Sequence[datetime]) -> Any:
    return and_(column >= edges[0], column < edges[-1])


def _seconds(conn: Connection, start: Any, end: Any) -> Any:
    """``end - start`` in seconds, computed by the database: exact on PostgreSQL (numeric); on SQLite from the
    stored text, whole seconds and the fraction apart, so that the microseconds are not rounded (as julianday and
    strftime round them to milliseconds)."""
    if conn.dialect.name == "postgresql":
        return cast(func.extract("epoch", end - start), Float)
    whole = [cast(func.strftime("%s", func.substr(at, 1, 19)), Integer) for at in (end, start)]  # strftime rounds
    return whole[0] - whole[1] + cast(func.substr(end, 20), Float) - cast(func.substr(start, 20), Float)


@dataclass(frozen=True)
class Completed:
    """A window's completed tasks as the percentiles need them: how many, their total seconds, and the order
    statistics asked for (0-based rank in ascending order -> seconds)."""

    n: int
    total: float
    ranked: dict[int, float]


def completed(conn: Connection, flow: str, edges: Sequence[datetime], percents: Sequence[int]) -> dict[int, Completed]:
    """Per window between consecutive ``edges``: the review and audit tasks (not gold) of ``flow`` created in it
    and completed, with the seconds from creation to completion of the shortest, the longest, and the ranks
    around each of ``percents`` (integer percentiles: ``(n - 1) * p / 100`` and one either side). The database
    sorts (a window function); only those few rows a window come back, however many tasks it holds."""
    seconds = _seconds(conn, tasks.c.created_at, tasks.c.completed_at).label("seconds")
    done = (
        select(_bucket(tasks.c.created_at, edges).label("bucket"), seconds)
        .where(tasks.c.flow == flow, tasks.c.kind != "gold", tasks.c.completed_at.is_not(None))
        .where(_in(tasks.c.created_at, edges))
        .subquery()
    )
    ranked = select(
        done.c.bucket,
        done.c.seconds,
        (func.row_number().over(partition_by=done.c.bucket, order_by=done.c.seconds) - 1).label("rank"),
        func.count().over(partition_by=done.c.bucket).label("n"),
        func.sum(done.c.seconds).over(partition_by=done.c.bucket).label("total"),
    ).subquery()
    rank, last = ranked.c.rank, ranked.c.n - 1
    asked = [rank == 0, rank == last]
    asked += [rank.between(last * p // 100 - 1, last * p // 100 + 1) for p in percents]
    found: dict[int, Completed] = {}
    for row in conn.execute(select(ranked).where(or_(*asked))):
        window = found.setdefault(int(row.bucket), Completed(int(row.n), float(row.total), {}))
        window.ranked[int(row.rank)] = float(row.seconds)
    return found


def completed_in_bins(conn: Connection, flow: str, start: datetime, end: datetime, edges: Sequence[float]) -> list[int]:
    """How many of the completed tasks (not gold) of ``flow`` created in ``[start, end)`` took a number of seconds
    in each bin between consecutive ``edges`` (clipped to the outer edges; the last bin includes its top)."""
    seconds = _seconds(conn, tasks.c.created_at, tasks.c.completed_at)
    low, high = edges[0], edges[-1]
    clipped = case((seconds < low, low), (seconds > high, high), else_=seconds)
    bucket = case(*((clipped < edge, i) for i, edge in enumerate(edges[1:-1])), else_=len(edges) - 2)
    query = (
        select(bucket, func.count())
        .where(tasks.c.flow == flow, tasks.c.kind != "gold", tasks.c.completed_at.is_not(None))
        .where(tasks.c.created_at >= start, tasks.c.created_at < end)
        .group_by(bucket)
    )
    counts = [0] * (len(edges) - 1)
    for i, n in conn.execute(query):
        counts[int(i)] = int(n)
    return counts


@dataclass(frozen=True)
class TaskCounts:
    """A window's review and audit tasks (not gold) by what became of them (see ``kpis.SlaCompliance``)."""

    open: int
    met: int
    breached: int
    pending: int
    no_due: int


def task_counts(conn: Connection, flow: str, edges: Sequence[datetime], now: datetime) -> dict[int, TaskCounts]:
    """Per window between consecutive ``edges``: the tasks created in it, counted by the database."""
    done, due = tasks.c.completed_at, tasks.c.due_at
    counted = (
        done.is_(None),
        due.is_not(None) & done.is_not(None) & (done <= due),
        due.is_not(None) & ((done.is_not(None) & (done > due)) | (done.is_(None) & (due < now))),
        due.is_not(None) & done.is_(None) & (due >= now),
        due.is_(None),
    )
    bucket = _bucket(tasks.c.created_at, edges)
    query = (
        select(bucket, *(func.sum(case((condition, 1), else_=0)) for condition in counted))
        .where(tasks.c.flow == flow, tasks.c.kind != "gold", _in(tasks.c.created_at, edges))
        .group_by(bucket)
    )
    return {int(row[0]): TaskCounts(*(int(n or 0) for n in row[1:])) for row in conn.execute(query)}


def review_counts(conn: Connection, flow: str, edges: Sequence[datetime]) -> dict[int, int]:
    """Per window between consecutive ``edges``: the reviews submitted in it on tasks of ``flow``."""
    bucket = _bucket(reviews.c.created_at, edges)
    query = (
        select(bucket, func.count())
        .select_from(reviews_with_task())
        .where(tasks.c.flow == flow, _in(reviews.c.created_at, edges))
        .group_by(bucket)
    )
    return {int(b): int(n) for b, n in conn.execute(query)}


def review_rows(conn: Connection, flow: str, start: datetime, end: datetime) -> list[Any]:
    """Reviews submitted in ``[start, end)`` on tasks of ``flow``, with the task's kind and queue, the model's
    label, the case's final decision, and the gold answer for gold tasks."""
    query = (
        select(
            *ANSWER,
            MODEL_LABEL,
            DECISION,
            decisions.c.decided_by,
            gold_answers.c.label.label("gold"),
            routes.c.inclusion_probability,
        )
        .select_from(
            routed(reviews_with_task(), reviews.c.case_id)
            .outerjoin(decisions, decisions.c.case_id == reviews.c.case_id)
            .outerjoin(gold_answers, gold_answers.c.case_id == reviews.c.case_id)
        )
        .where(tasks.c.flow == flow, reviews.c.created_at >= start, reviews.c.created_at < end)
        .order_by(reviews.c.id)
    )
    return list(conn.execute(query))


def first_case_at(conn: Connection, flow: str) -> datetime | None:
    """When the flow's first (non-gold) case arrived."""
    value: datetime | None = conn.execute(
        select(func.min(cases.c.created_at)).where(cases.c.flow == flow, cases.c.status != "gold")
    ).scalar()
    return value


@dataclass(frozen=True)
class DecidedCase:
    """A case with its groups, route, the model's label and its decision (None: not decided yet)."""

    id: int
    created_at: datetime
    groups: dict[str, Any]
    verdict: str
    model_label: str | None
    decision: str | None
    decided_by: str | None


def _decided() -> Any:
    return (
        select(
            cases.c.id,
            cases.c.created_at,
            cases.c.groups,
            routes.c.verdict,
            MODEL_LABEL,
            DECISION,
            decisions.c.decided_by,
        )
        .select_from(routed(cases, cases.c.id).outerjoin(decisions, decisions.c.case_id == cases.c.id))
        .where(cases.c.status != "gold")
    )


def _decided_case(row: Any) -> DecidedCase:
    return DecidedCase(
        int(row.id), row.created_at, dict(row.groups or {}), str(row.verdict), row.model_label, row.decision,
        row.decided_by,
    )  # fmt: skip


def not_by_model(conn: Connection, flow: str, start: datetime, end: datetime) -> list[DecidedCase]:
    """The cases of ``flow`` created in ``[start, end)`` whose decision the model did not make at intake (people's,
    escalation's default). Read from those decisions (``ix_decisions_not_model``, whose condition the query states
    as written so that both databases use it), which reviewers bound, not from every case."""
    query = _decided().where(
        text(NOT_MODEL),
        decisions.c.created_at >= start,
        cases.c.flow == flow,
        cases.c.created_at >= start,
        cases.c.created_at < end,
    )
    return [_decided_case(row) for row in conn.execute(query)]


def corrected_counts(conn: Connection, flow: str, edges: Sequence[datetime], people: Sequence[str]) -> dict[int, int]:
    """Per window between consecutive ``edges``: the cases of ``flow`` created in it whose decision one of
    ``people`` (the deciders that are people) made against the model's label, counted through
    ``ix_decisions_not_model`` without the cases' documents."""
    bucket = _bucket(cases.c.created_at, edges)
    query = (
        select(bucket, func.count())
        .select_from(routed(decisions.join(cases, cases.c.id == decisions.c.case_id), decisions.c.case_id))
        .where(
            text(NOT_MODEL),
            decisions.c.decided_by.in_(list(people)),
            decisions.c.created_at >= edges[0],
            decisions.c.label.is_distinct_from(predictions.c.label),
            cases.c.flow == flow,
            _in(cases.c.created_at, edges),
            cases.c.status != "gold",
        )
        .group_by(bucket)
    )
    return {int(b): int(n) for b, n in conn.execute(query)}


def decided_cases(conn: Connection, case_ids: Collection[int]) -> list[DecidedCase]:
    """These cases (gold cases left out), decided or not."""
    if not case_ids:
        return []
    return [_decided_case(row) for row in conn.execute(_decided().where(cases.c.id.in_(sorted(case_ids))))]


# What Prometheus scrapes: totals since the start, grouped by bounded labels, read from the store so that every
# server process reports the same global numbers.


def _counts(conn: Connection, keys: tuple[Any, ...], source: Any, *where: Any) -> list[tuple[Any, ...]]:
    """(*keys, rows) for each group of the rows of ``source`` (a table, or a join) that match ``where``."""
    query = select(*keys, func.count()).select_from(source).where(*where).group_by(*keys)
    return [tuple(row) for row in conn.execute(query)]


_QUEUE = (tasks.c.flow, tasks.c.queue)


def open_tasks(conn: Connection) -> list[tuple[Any, ...]]:
    """(flow, queue, open tasks, the oldest one's creation time) for queues with open tasks."""
    query = (
        select(*_QUEUE, func.count(), func.min(tasks.c.created_at)).where(tasks.c.status != "done").group_by(*_QUEUE)
    )
    return [tuple(row) for row in conn.execute(query)]


def lease_expiries(conn: Connection) -> list[tuple[Any, ...]]:
    return _counts(conn, _QUEUE, leases.join(tasks, tasks.c.id == leases.c.task_id), leases.c.end_reason == "expired")


def reviews_by_queue(conn: Connection) -> list[tuple[Any, ...]]:
    return _counts(conn, _QUEUE, reviews_with_task())


def decisions_not_by_model(conn: Connection) -> list[tuple[Any, ...]]:
    """(flow, decided_by, decisions) for the decisions the model did not make at intake (``ix_decisions_not_model``);
    the model's own are counted in the rollups."""
    return _counts(
        conn,
        (cases.c.flow, decisions.c.decided_by),
        decisions.join(cases, cases.c.id == decisions.c.case_id),
        text(NOT_MODEL),
    )


def sla_breaches(conn: Connection, now: datetime) -> list[tuple[Any, ...]]:
    """(flow, queue, tasks completed after their due time or still open past it)."""
    late = and_(
        tasks.c.due_at.is_not(None),
        ((tasks.c.completed_at.is_not(None)) & (tasks.c.completed_at > tasks.c.due_at))
        | ((tasks.c.completed_at.is_(None)) & (tasks.c.status != "done") & (tasks.c.due_at < now)),
    )
    return _counts(conn, _QUEUE, tasks, late)


def recent_alerts(conn: Connection, flow: str, since: datetime) -> list[dict[str, Any]]:
    """The data of ``alert.raised`` events for ``flow`` recorded since ``since``."""
    query = select(audit_events.c.data).where(
        audit_events.c.action == "alert.raised",
        audit_events.c.entity == "flow",
        audit_events.c.entity_id == flow,
        audit_events.c.at >= since,
    )
    return [dict(row) for row in conn.execute(query).scalars()]


def traceparents(conn: Connection, case_ids: Sequence[int]) -> dict[int, str]:
    """The W3C traceparent recorded for each case at intake (cases recorded without tracing have none)."""
    if not case_ids:
        return {}
    query = select(cases.c.id, cases.c.traceparent).where(
        cases.c.id.in_(list(case_ids)), cases.c.traceparent.is_not(None)
    )
    return {int(r.id): str(r.traceparent) for r in conn.execute(query)}
