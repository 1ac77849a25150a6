"""Outcomes: the ground truth that arrives after a case was decided (the loan defaulted months after approval).

One outcome per case and source: sending the same label again is a replay and writes nothing; a different label
from the same source is a conflict. A batch (a request, a file) is checked whole before anything is written."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from signoff import text
from signoff.audit import record as audit_record
from signoff.config import Flow
from signoff.domain import AuditEvent, CaseId, CaseStatus
from signoff.errors import Conflict, InvalidInput, Problem
from signoff.store import labels as store
from signoff.store.database import Database

DEFAULT_SOURCE = "default"
FIELDS = ("case_id", "external_id", "label", "source", "observed_at")
MAX_PROBLEMS = 50


@dataclass(frozen=True)
class OutcomeIn:
    """One outcome as it came in (a request item, a file row): raw values, checked by ``validate``. ``where``
    names it in problems (``outcomes[3]``, ``file.csv:line 4``)."""

    where: str
    values: Mapping[str, Any] | None  # None: the item was not an object at all

    @classmethod
    def of(cls, where: str, item: Any) -> OutcomeIn:
        return cls(where, item if isinstance(item, Mapping) else None)


@dataclass(frozen=True)
class Outcome:
    """A recorded outcome; ``created`` is False for a replay of one recorded before."""

    id: int
    case_id: CaseId
    label: str
    source: str
    observed_at: datetime | None
    created: bool


@dataclass(frozen=True)
class _Checked:
    item: OutcomeIn
    case_id: int | None
    external_id: str | None
    label: str
    source: str
    observed_at: datetime | None


def _time(value: Any) -> datetime | None:
    """An ISO 8601 time (UTC if it names no zone), or None for nothing; ValueError if it is not one."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        found = value
    elif isinstance(value, str):
        found = datetime.fromisoformat(value.strip())
    else:
        raise ValueError(value)
    return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)


def _check_item(item: OutcomeIn, flow: Flow) -> tuple[_Checked | None, list[Problem]]:
    """The shape and values of one outcome, before the database is asked about its case."""
    values, where = item.values, item.where
    if values is None:
        return None, [Problem(where, "must be an object with case_id or external_id, and label")]
    problems = [
        Problem(f"{where}.{key}", f"unknown field; use {', '.join(FIELDS)}") for key in values if key not in FIELDS
    ]
    case_id: int | None = None
    raw_id, raw_external = values.get("case_id"), values.get("external_id")
    raw_id = None if raw_id == "" else raw_id
    raw_external = None if raw_external == "" else raw_external
    if (raw_id is None) == (raw_external is None):
        problems.append(Problem(where, "name the case by exactly one of case_id and external_id"))
    elif raw_id is not None:
        if isinstance(raw_id, str) and raw_id.strip().isdigit() and len(raw_id.strip()) <= 18:
            raw_id = int(raw_id)
        if isinstance(raw_id, bool) or not isinstance(raw_id, int) or not 1 <= raw_id < 2**63:
            problems.append(Problem(f"{where}.case_id", f"must be a case id (a whole number), got {raw_id!r}"[:200]))
        else:
            case_id = raw_id
    elif (
        not isinstance(raw_external, str | int)
        or isinstance(raw_external, bool)
        or len(str(raw_external)) > 200
        or text.problem(str(raw_external), name=False) is not None
    ):
        problems.append(Problem(f"{where}.external_id", "must be text of at most 200 characters"))
    label = values.get("label")
    if label not in flow.labels:
        problems.append(Problem(f"{where}.label", f"must be one of {list(flow.labels)}, got {label!r}"[:300]))
    source = values.get("source")
    source = DEFAULT_SOURCE if source is None or source == "" else source
    if not isinstance(source, str) or len(source) > 63 or text.problem(source, name=True) is not None:
        problems.append(Problem(f"{where}.source", "must be a name of at most 63 characters"))
    try:
        observed = _time(values.get("observed_at"))
    except (ValueError, TypeError, OverflowError):
        observed = None
        problems.append(Problem(f"{where}.observed_at", "must be an ISO 8601 time, e.g. 2026-03-01T12:00:00Z"))
    if problems:
        return None, problems
    external = None if raw_external is None else str(raw_external)
    return _Checked(item, case_id, external, str(label), str(source), observed), []


_Planned = Outcome | tuple[int, str]  # a replay, or the (case, source) of a new outcome


def _prepare(
    conn: Connection, flow: Flow, items: Sequence[OutcomeIn], now: datetime, seen: dict[tuple[int, str], str]
) -> tuple[list[tuple[_Checked, int]], list[_Planned]]:
    """Check every outcome against the database: the new ones (with their case id), and what each item comes to
    in the order given (a replay, or the key of a new outcome). Raises InvalidInput
    with every problem located, or Conflict for a (case, source) already recorded or sent with another label.
    ``seen`` carries the (case, source) pairs of earlier chunks of the same file."""
    checked, problems = [], []
    for item in items:
        found, wrong = _check_item(item, flow)
        problems.extend(wrong)
        if found is not None:
            checked.append(found)
    by_id = store.cases_by_id(conn, [c.case_id for c in checked if c.case_id is not None])
    by_external = store.cases_by_external_id(conn, flow.name, [c.external_id for c in checked if c.external_id])
    resolved: list[tuple[_Checked, int]] = []
    for c in checked:
        if c.case_id is not None:
            row = by_id.get(c.case_id)
            if row is None:
                problems.append(Problem(f"{c.item.where}.case_id", f"no case {c.case_id} exists"))
                continue
            if row.flow != flow.name:
                problems.append(Problem(f"{c.item.where}.case_id", f"case {c.case_id} is not of flow {flow.name!r}"))
                continue
        else:
            row = by_external.get(str(c.external_id))
            if row is None:
                problems.append(
                    Problem(f"{c.item.where}.external_id", f"flow {flow.name!r} has no case {c.external_id!r}"[:300])
                )
                continue
        if row.status == CaseStatus.GOLD.value:
            problems.append(Problem(c.item.where, f"case {row.id} is a gold case: it has no outcome"))
            continue
        if c.observed_at is not None and c.observed_at > now:
            problems.append(Problem(f"{c.item.where}.observed_at", "is in the future"))
            continue
        resolved.append((c, int(row.id)))
    if problems:
        raise InvalidInput(problems[:MAX_PROBLEMS], "invalid outcomes; nothing was written")
    recorded = {(int(r.case_id), str(r.source)): r for r in store.outcomes_of(conn, [i for _, i in resolved])}
    new: list[tuple[_Checked, int]] = []
    plan: list[_Planned] = []
    for c, case_id in resolved:
        key = (case_id, c.source)
        earlier = recorded.get(key)
        if earlier is not None:
            if earlier.label != c.label:
                raise Conflict(
                    f"{c.item.where}: case {case_id} already has outcome {earlier.label!r} from source {c.source!r}; "
                    f"{c.label!r} differs (an outcome is recorded once per case and source); nothing was written"
                )
            plan.append(Outcome(int(earlier.id), CaseId(case_id), c.label, c.source, earlier.observed_at, False))
            continue
        plan.append(key)
        if key in seen:
            if seen[key] != c.label:
                raise Conflict(
                    f"{c.item.where}: case {case_id} is given outcome {seen[key]!r} and {c.label!r} from source "
                    f"{c.source!r} in the same input; nothing was written"
                )
            continue
        seen[key] = c.label
        new.append((c, case_id))
    return new, plan


def validate(db: Database, flow: Flow, chunks: Iterable[Sequence[OutcomeIn]]) -> int:
    """Check outcomes chunk by chunk without writing (the first pass over a file); the number checked."""
    seen: dict[tuple[int, str], str] = {}
    count = 0
    with db.transaction(write=False) as conn:
        now = db.now(conn)
        for chunk in chunks:
            _prepare(conn, flow, chunk, now, seen)
            count += len(chunk)
    return count


def record(db: Database, flow: Flow, items: Sequence[OutcomeIn], actor: str) -> list[Outcome]:
    """Record outcomes in one transaction, each new one audited (``outcome.recorded``); in the order given, a
    repeated (case, source) once."""
    with db.transaction() as conn:
        now = db.now(conn)
        new, plan = _prepare(conn, flow, items, now, {})
        rows: list[dict[str, Any]] = [
            {
                "case_id": case_id,
                "flow": flow.name,
                "label": c.label,
                "source": c.source,
                "observed_at": c.observed_at,
                "created_at": now,
                "recorded_by": actor,
            }
            for c, case_id in new
        ]
        ids = store.insert_outcomes(conn, rows)
        created = [
            Outcome(i, CaseId(r["case_id"]), r["label"], r["source"], r["observed_at"], created=True)
            for i, r in zip(ids, rows, strict=True)
        ]
        audit_record(
            db,
            conn,
            [
                AuditEvent(
                    actor,
                    "outcome.recorded",
                    "case",
                    str(o.case_id),
                    {
                        "outcome_id": o.id,
                        "flow": flow.name,
                        "label": o.label,
                        "source": o.source,
                        "observed_at": None if o.observed_at is None else o.observed_at.isoformat(),
                    },
                )
                for o in created
            ],
            at=now,
        )
    by_key = {(o.case_id, o.source): o for o in created}
    return [p if isinstance(p, Outcome) else by_key[(CaseId(p[0]), p[1])] for p in plan]
