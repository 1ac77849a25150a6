"""The audit tables: events appended in the writer's transaction, seals appended by the one sealer."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Select, and_, func, insert, or_, select, text

from signoff.domain import AuditEvent
from signoff.store.database import Database, as_utc, stored_time, write_rows
from signoff.store.records import ChainCheck, ChainLink, RecordedEvent, SealedEvent
from signoff.store.schema import audit_events, audit_seals

MAX_SEQ = 2**63 - 1  # no seal is numbered higher (a BIGINT)
ESCALATION_ACTOR = "escalation"  # the escalation sweep's events have their own partial index

EVENT_COLUMNS = (
    audit_events.c.id,
    audit_events.c.at,
    audit_events.c.actor,
    audit_events.c.action,
    audit_events.c.entity,
    audit_events.c.entity_id,
    audit_events.c.data,
)


# An event's data as stored: keys sorted, no spaces, which is the canonical form the chain hashes (ASCII-escaped, so
# that text no edge should have let through still stores). On SQLite the stored text is then the very bytes the seal
# keeps, and a check of the chain compares the two in SQL (``chain_check``) instead of re-encoding the event.
_DOCUMENT = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


def append(db: Database, conn: Connection, events: Sequence[AuditEvent], at: datetime) -> None:
    """Append events in the caller's transaction: one by its named statement, many in bulk (``write_rows``: an
    intake batch writes one event per case)."""
    if len(events) == 1:
        (e,) = events
        db.run(
            conn,
            "append_event",
            at=at,
            actor=e.actor,
            action=e.action,
            entity=e.entity,
            entity_id=e.entity_id,
            data=_DOCUMENT(e.data),
        )
    elif events:
        when = stored_time(conn, at)
        rows = ((when, e.actor, e.action, e.entity, e.entity_id, _DOCUMENT(e.data)) for e in events)
        write_rows(conn, audit_events.name, ("at", "actor", "action", "entity", "entity_id", "data"), rows)


# Ids below the highest sealed event that a routine look for unsealed events goes back over. Events mostly commit
# in id order; on PostgreSQL, concurrent transactions commit a little out of it.
LATE_WINDOW = 10_000


def unsealed_above(conn: Connection, *, full: bool = False) -> int:
    """The id above which to look for unsealed events: 0 for a full look, which probes every event ever recorded
    (half a second per million); routinely ``LATE_WINDOW`` ids below the highest sealed event, which costs the same
    at any size. An event that commits further out of order waits for the next full look."""
    if full:
        return 0
    highest = conn.execute(select(func.max(audit_seals.c.event_id))).scalar()
    return max(int(highest or 0) - LATE_WINDOW, 0)


def not_sealed(above: int) -> ColumnElement[bool]:
    """Events above id ``above`` that have no seal. The bound is stated on the seals' side too, so that the database
    starts reading both indexes there rather than from the first seal."""
    sealed = (
        select(audit_seals.c.event_id)
        .where(audit_seals.c.event_id == audit_events.c.id, audit_seals.c.event_id > above)
        .exists()
    )
    return and_(audit_events.c.id > above, ~sealed)


def lag(conn: Connection) -> tuple[int, datetime | None, datetime | None]:
    """(unsealed events, the oldest unsealed event's time, the newest seal's time), looking where the sealer
    routinely looks (``unsealed_above``): a scrape costs the same at any size, and a stuck sealer still shows."""
    unsealed = select(func.count(), func.min(audit_events.c.at)).where(not_sealed(unsealed_above(conn)))
    count, oldest = conn.execute(unsealed).one()
    newest = conn.execute(select(func.max(audit_seals.c.sealed_at))).scalar()
    return int(count), oldest, newest


def unsealed(conn: Connection, limit: int, above: int = 0) -> list[Row[Any]]:
    """Committed events above id ``above`` without a seal, oldest id first."""
    query = select(*EVENT_COLUMNS).where(not_sealed(above)).order_by(audit_events.c.id).limit(limit)
    return list(conn.execute(query))


def count_unsealed(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(audit_events).where(not_sealed(0))).scalar_one())


def last_seal(conn: Connection) -> Any:
    return conn.execute(
        select(audit_seals.c.seq, audit_seals.c.hash).order_by(audit_seals.c.seq.desc()).limit(1)
    ).first()


def seal_hash(conn: Connection, seq: int) -> str | None:
    value = conn.execute(select(audit_seals.c.hash).where(audit_seals.c.seq == seq)).scalar_one_or_none()
    return None if value is None else str(value)


def seal_time(conn: Connection, seq: int) -> datetime | None:
    """When seal ``seq`` was made (None for seal 0, the genesis, or a missing seal)."""
    value = conn.execute(select(audit_seals.c.sealed_at).where(audit_seals.c.seq == seq)).scalar_one_or_none()
    return None if value is None else as_utc(value)


def append_seals(conn: Connection, seals: Sequence[dict[str, Any]]) -> None:
    if seals:
        conn.execute(insert(audit_seals), list(seals))


@dataclass(frozen=True)
class DuplicateKeys:
    """Stands for an event's data whose JSON text names a key twice in one object. Python's reader keeps the last
    value and SQLite's JSON functions the first, so the chain and an SQL reader could see different events: such
    text is never written by Signoff, and a check of the chain reports it instead of hashing either reading."""

    keys: tuple[str, ...]


def _strict_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise _Duplicate(tuple(key for key, n in Counter(k for k, _ in pairs).items() if n > 1))
    return found


class _Duplicate(ValueError):
    def __init__(self, keys: tuple[str, ...]) -> None:
        super().__init__(keys)
        self.keys = keys


_STRICT = json.JSONDecoder(object_pairs_hook=_strict_object)


def parse_data(text: str) -> Any:
    """An event's stored JSON text (SQLite keeps it as text), or ``DuplicateKeys`` if an object repeats a key."""
    try:
        return _loads(_STRICT, text)
    except _Duplicate as duplicate:
        return DuplicateKeys(duplicate.keys)


def _loads(decoder: json.JSONDecoder, text: str) -> Any:
    """``json.loads`` through one decoder made once: its scanner reads a whole compact document at a third less
    than ``json.loads`` takes (which wraps it, and makes a new decoder per call when given a hook). Anything else
    (surrounding space, text that is not JSON) goes through ``decode``, which answers as ``json.loads`` does."""
    try:
        value, end = decoder.scan_once(text, 0)  # type: ignore[attr-defined]  # made in __init__, untyped
    except StopIteration:
        end = -1
    return value if end == len(text) else decoder.decode(text)


_PLAIN = json.JSONDecoder()


def _jsonb(data: str | bytes) -> Any:
    """PostgreSQL's jsonb, read for a check of the chain (jsonb cannot repeat a key)."""
    return _loads(_PLAIN, data if isinstance(data, str) else data.decode("utf-8", "surrogatepass"))


def chain(db: Database, conn: Connection, *, after: int = 0, upto: int = MAX_SEQ) -> Iterator[ChainLink]:
    """The seals numbered ``after + 1`` to ``upto`` (all, by default) in order, each with the event it seals: one
    streamed statement on the driver's cursor, each row made a ``ChainLink`` once (read in pages, copied per field
    and decoded by a decoder made per event, a check of the chain ran 1.4-2.7x slower: docs/reference/benchmarks.md)."""
    pages = db.stream(conn, "chain", 10_000, _jsonb, after=after, upto=upto)
    if db.dialect == "postgresql":
        for rows in pages:
            yield from map(ChainLink._make, rows)
        return
    times: dict[str, datetime] = {}
    for rows in pages:
        if len(times) > 100_000:
            times.clear()
        for row in rows:
            yield _sqlite_link(row, times)


def _sqlite_link(row: Sequence[Any], times: dict[str, datetime]) -> ChainLink:
    """A ``ChainLink`` of a row of SQLite's, which hands times and JSON back as text. The events of one transaction
    share their time and a sealing round its seals' time, so each distinct text is read once (``times``)."""
    (
        seq,
        event_id,
        prev_hash,
        seal_hash,
        encoding,
        sealed_at,
        at,
        actor,
        action,
        entity,
        entity_id,
        data,
        found,
        body,
    ) = row[:14]
    sealed = times.get(sealed_at) or times.setdefault(sealed_at, as_utc(sealed_at))
    if found is not None:
        at = times.get(at) or times.setdefault(at, as_utc(at))
        data = parse_data(data)
    return ChainLink(
        seq, event_id, prev_hash, seal_hash, encoding, sealed, at, actor, action, entity, entity_id, data, found, body
    )


def chain_check(
    db: Database,
    conn: Connection,
    *,
    after: int,
    upto: int,
    encoding: int,
    times: tuple[timedelta, timedelta],
    digest: Callable[[str, bytes], str],
) -> Iterator[ChainCheck]:
    """The seals ``after + 1`` to ``upto`` that the database cannot vouch for, in order (the named query
    ``chain_check`` says what it checks): of an intact chain, the first seal only, as it follows one outside the
    range. The database hashes and compares; nothing is decoded or encoded in Python unless it comes back here.
    ``times``: how far an event may be dated before the seal ahead of it was made, and after its own.
    SQLite, which has no SHA-256 of its own, calls ``digest`` (a seal's hash of its previous hash and its bytes)."""
    if db.dialect == "sqlite":

        def sealed_hash(prev_hash: object, body: object) -> str | None:  # whatever the columns were edited to hold
            return digest(prev_hash, body) if isinstance(prev_hash, str) and isinstance(body, bytes) else None

        driver: Any = conn.connection.driver_connection
        driver.create_function("signoff_sha256", 2, sealed_hash, deterministic=True)
    limits = {"backdated_after": times[0].total_seconds(), "clock_skew": times[1].total_seconds()}
    seen: dict[str, datetime] = {}
    for rows in db.stream(conn, "chain_check", 1000, _jsonb, after=after, upto=upto, encoding=encoding, **limits):
        for row in rows:
            if db.dialect == "postgresql":
                yield ChainCheck(ChainLink._make(row[:14]), row[14], row[15])
            else:
                yield ChainCheck(_sqlite_link(row, seen), row[14], None if row[15] is None else as_utc(row[15]))


def span_ends(conn: Connection, after: int, upto: int) -> tuple[int, int] | None:
    """The first and last seal numbered ``after + 1`` to ``upto``, or None if there is none."""
    in_span = and_(audit_seals.c.seq > after, audit_seals.c.seq <= upto)
    first, last = conn.execute(select(func.min(audit_seals.c.seq), func.max(audit_seals.c.seq)).where(in_span)).one()
    return None if first is None else (int(first), int(last))


def seal_before(conn: Connection, seq: int) -> tuple[int, str, datetime] | None:
    """The number, hash and time of the last seal before seal ``seq``, wherever a gap puts it."""
    query = select(audit_seals.c.seq, audit_seals.c.hash, audit_seals.c.sealed_at).where(audit_seals.c.seq < seq)
    found = conn.execute(query.order_by(audit_seals.c.seq.desc()).limit(1)).first()
    return None if found is None else (int(found.seq), str(found.hash), as_utc(found.sealed_at))


def sealed_after(conn: Connection, seq: int, limit: int) -> list[Row[Any]]:
    """Sealed events after ``seq``, in seal (commit) order, with their seq."""
    query = (
        select(audit_seals.c.seq, *EVENT_COLUMNS)
        .join(audit_events, audit_events.c.id == audit_seals.c.event_id)
        .where(audit_seals.c.seq > seq)
        .order_by(audit_seals.c.seq)
        .limit(limit)
    )
    return list(conn.execute(query))


def last_seq(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(audit_seals.c.seq), 0))).scalar_one())


def latest(conn: Connection, entity: str, entity_id: str, action: str) -> Any:
    """The newest event of this action about this entity (through the (entity, entity_id) index)."""
    query = (
        select(*EVENT_COLUMNS)
        .where(audit_events.c.entity == entity, audit_events.c.entity_id == entity_id, audit_events.c.action == action)
        .order_by(audit_events.c.id.desc())
        .limit(1)
    )
    return conn.execute(query).first()


def escalations_query(limit: int) -> Select[Any]:
    """The escalation sweep's latest events, newest first. The filter is a literal, not a parameter, so that
    SQLite, too, reads them from their partial index (a test checks both plans)."""
    return (
        select(*EVENT_COLUMNS)
        .where(text(f"audit_events.actor = '{ESCALATION_ACTOR}'"))
        .order_by(audit_events.c.id.desc())
        .limit(limit)
    )


def escalations(conn: Connection, limit: int) -> list[RecordedEvent]:
    """Tasks moved along their chain, held, or decided by the default action: the latest ``limit``."""
    return [RecordedEvent.from_row(row) for row in conn.execute(escalations_query(limit))]


def _with_seals() -> Any:
    """Events with their seal (``seq``, ``prev_hash``, ``hash``; NULL while unsealed)."""
    return select(*EVENT_COLUMNS, audit_seals.c.seq, audit_seals.c.prev_hash, audit_seals.c.hash).select_from(
        audit_events.outerjoin(audit_seals, audit_seals.c.event_id == audit_events.c.id)
    )


def case_events(conn: Connection, case_id: int, task_ids: Sequence[int]) -> list[SealedEvent]:
    """A case's events and its tasks' events, oldest first, with their seals."""
    mine = and_(audit_events.c.entity == "case", audit_events.c.entity_id == str(case_id))
    tasks = and_(audit_events.c.entity == "task", audit_events.c.entity_id.in_([str(t) for t in task_ids]))
    query = _with_seals().where(or_(mine, tasks)).order_by(audit_events.c.id)
    return [SealedEvent.from_row(row) for row in conn.execute(query)]


def sealed_between(
    conn: Connection, since: datetime | None, until: datetime | None, after_seq: int, limit: int
) -> list[SealedEvent]:
    """One page of sealed events in chain order (after ``after_seq``) whose time is in [since, until)."""
    query = _with_seals().where(audit_seals.c.seq > after_seq)
    if since is not None:
        query = query.where(audit_events.c.at >= since)
    if until is not None:
        query = query.where(audit_events.c.at < until)
    return [SealedEvent.from_row(row) for row in conn.execute(query.order_by(audit_seals.c.seq).limit(limit))]


def entity_events(
    conn: Connection, entity: str, entity_ids: Sequence[str], actions: Sequence[str], limit: int
) -> list[Row[Any]]:
    """The newest events of these actions about these entities (through the (entity, entity_id) index)."""
    query = (
        select(*EVENT_COLUMNS)
        .where(
            audit_events.c.entity == entity,
            audit_events.c.entity_id.in_(list(entity_ids)),
            audit_events.c.action.in_(list(actions)),
        )
        .order_by(audit_events.c.id.desc())
        .limit(limit)
    )
    return list(conn.execute(query))
