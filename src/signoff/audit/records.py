"""What an auditor takes away: a case's whole decision record with its audit events, and the sealed chain as
a file that can be checked without Signoff (each line carries ``prev_hash`` and ``hash``; see ``chain.py``)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Collection, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from signoff.errors import InvalidInput, Problem
from signoff.store import audit as audit_store
from signoff.store import cases as case_store
from signoff.store import users as user_store
from signoff.store.database import Database
from signoff.store.records import Case, SealedEvent

EXPORT_COLUMNS = ("seq", "event_id", "at", "actor", "action", "entity", "entity_id", "data", "prev_hash", "hash")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def case_history(db: Database, case_id: int, flows: Collection[str] | None = None) -> dict[str, Any] | None:
    """The case record (fields, predictions, routes, tasks with leases, reviews, decision) with reviewer names
    and the case's and its tasks' audit events, each marked sealed or not; None if there is no such case, or if
    it is not of ``flows`` (None: every flow)."""
    with db.transaction(write=False) as conn:
        case = case_store.case_record(conn, case_id)
        if case is None or (flows is not None and case.flow not in flows):
            return None
        record = _stored(case)
        task_ids = [task["id"] for task in record["tasks"]]
        events = audit_store.case_events(conn, case_id, task_ids)
        people = [lease["reviewer_id"] for task in record["tasks"] for lease in task["leases"]]
        names = user_store.names_by_id(conn, people + [review["reviewer_id"] for review in record["reviews"]])
    for task in record["tasks"]:
        for lease in task["leases"]:
            lease["reviewer"] = names.get(lease["reviewer_id"], f"user {lease['reviewer_id']}")
    for review in record["reviews"]:
        review["reviewer"] = names.get(review["reviewer_id"], f"user {review['reviewer_id']}")
    record["events"] = [_event(row) for row in events]
    return record


# What a decision says in its audit event only; the record shows what the decisions table holds.
_AUDIT_ONLY = ("task_id", "queue", "escalation_exhausted")


def _stored(case: Case) -> dict[str, Any]:
    """The case as plain data (the page and its JSON download add names and events to it)."""
    record = asdict(case)
    if record["decision"] is not None:
        record["decision"] = {k: v for k, v in record["decision"].items() if k not in _AUDIT_ONLY}
    return record


def _event(event: SealedEvent) -> dict[str, Any]:
    """An event as a case's record and the exports show it, by ``EXPORT_COLUMNS``."""
    return {
        "seq": event.seq,
        "event_id": event.id,
        "at": event.at,
        "actor": event.actor,
        "action": event.action,
        "entity": event.entity,
        "entity_id": event.entity_id,
        "data": event.data,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def time_bound(text: str | None, where: str) -> datetime | None:
    """An ISO 8601 date or time bounding an export; without a zone it is UTC."""
    if text is None or not text.strip():
        return None
    try:
        found = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            [Problem(where, f"{text[:40]!r} is not an ISO 8601 date or time, such as 2026-11-01 or 2026-11-01T08:00Z")]
        ) from None
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def time_range(
    since: str | None, until: str | None, names: tuple[str, str] = ("since", "until")
) -> tuple[datetime | None, datetime | None]:
    """The bounds of an export, [since, until), each as ``time_bound`` reads it; a range that holds no time at all
    (``until`` not after ``since``: the same day twice, or the bounds swapped) is refused rather than exported as
    an empty file."""
    start, end = time_bound(since, names[0]), time_bound(until, names[1])
    if start is not None and end is not None and end <= start:
        raise InvalidInput(
            [
                Problem(
                    names[1],
                    f"{until!r} is not after {names[0]} {since!r}: the range includes {names[0]} and excludes "
                    f"{names[1]}, so it is empty (for one day, give the next day as {names[1]})",
                )
            ]
        )
    return start, end


def sealed_events(
    db: Database, since: datetime | None = None, until: datetime | None = None, batch: int = 5000
) -> Iterator[SealedEvent]:
    """Sealed events with time in [since, until), in chain order, read a page at a time (each page its own
    short transaction, so that a long export holds no lock); unsealed events are not part of the record yet."""
    after = 0
    while True:
        with db.transaction(write=False) as conn:
            page = audit_store.sealed_between(conn, since, until, after, batch)
        yield from page
        last = page[-1].seq if len(page) == batch else None
        if last is None:  # a short page is the last one (and every event of a page is sealed)
            return
        after = last


def _text(event: dict[str, Any], column: str) -> str:
    value = event[column]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")  # as hashed: the chain can be rechecked
    if column == "data":
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return "" if value is None else str(value)


def jsonl_lines(events: Iterator[SealedEvent]) -> Iterator[str]:
    """One JSON object per line: the exact values, for checking the chain."""
    for event in map(_event, events):
        yield json.dumps({c: _text(event, c) if c == "at" else event[c] for c in EXPORT_COLUMNS}, default=str) + "\n"


def csv_lines(events: Iterator[SealedEvent]) -> Iterator[str]:
    """A header and one row per event, for spreadsheets: a cell that a spreadsheet would run as a formula
    (starting with = + - @) gets a leading apostrophe (OWASP's advice on CSV injection); the JSON Lines export
    keeps the exact values."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def flush(row: list[str]) -> str:
        writer.writerow(row)
        line = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return line

    yield flush(list(EXPORT_COLUMNS))
    for event in map(_event, events):
        cells = [_text(event, c) for c in EXPORT_COLUMNS]
        yield flush(["'" + cell if cell.startswith(_FORMULA_STARTS) else cell for cell in cells])


# The export formats by name: the media type and the writer of each.
EXPORTS: dict[str, tuple[str, Callable[[Iterator[SealedEvent]], Iterator[str]]]] = {
    "jsonl": ("application/x-ndjson", jsonl_lines),
    "csv": ("text/csv; charset=utf-8", csv_lines),
}
