"""The Merkle tree's stored nodes, the leaves it is built from (the seals' bytes), and the checkpoints written."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select

from signoff.store.audit import EVENT_COLUMNS
from signoff.store.database import as_utc, write_rows
from signoff.store.records import StoredCheckpoint
from signoff.store.schema import audit_checkpoints, audit_events, audit_seals, audit_tree

Node = tuple[int, int]  # (level, index), as audit.merkle names a complete subtree


def tree_size(conn: Connection) -> int:
    """How many leaves the stored tree holds: one more than its last leaf's index (read from the key's index)."""
    last = conn.execute(select(func.max(audit_tree.c.idx)).where(audit_tree.c.level == 0)).scalar()
    return 0 if last is None else int(last) + 1


def nodes(conn: Connection, wanted: Iterable[Node]) -> dict[Node, bytes]:
    """The stored hashes of these complete subtrees (those stored), in one statement, each found by the key's index.
    Written out as text: the numbers are computed ints, never input, and building the equivalent SQLAlchemy
    expression cost ten times the query (a proof asks for about log2(n)^2 / 2 nodes)."""
    keys = sorted({(int(level), int(index)) for level, index in wanted})
    if not keys:
        return {}
    where = " OR ".join(f"(level = {level} AND idx = {index})" for level, index in keys)
    rows = conn.exec_driver_sql(f"SELECT level, idx, hash FROM audit_tree WHERE {where}")  # ints
    return {(int(level), int(index)): bytes(value) for level, index, value in rows}


def level_hashes(conn: Connection, level: int, start: int, end: int) -> list[tuple[int, bytes]]:
    """The stored nodes of one level with indexes in [start, end), in order."""
    query = (
        select(audit_tree.c.idx, audit_tree.c.hash)
        .where(audit_tree.c.level == level, audit_tree.c.idx >= start, audit_tree.c.idx < end)
        .order_by(audit_tree.c.idx)
    )
    return [(int(index), bytes(value)) for index, value in conn.execute(query)]


def add_nodes(conn: Connection, made: Iterable[tuple[int, int, bytes]]) -> None:
    """Store complete subtrees' hashes in the caller's transaction (in bulk: a leaf makes two nodes on average)."""
    write_rows(conn, audit_tree.name, ("level", "idx", "hash"), made)


def leaves(conn: Connection, after: int, limit: int) -> list[Row[Any]]:
    """The seals numbered above ``after``, in order: (seq, event_id, body). ``body`` is NULL where an old seal
    kept no bytes (see ``audit_seals.body``): the caller encodes the event (``events``)."""
    query = (
        select(audit_seals.c.seq, audit_seals.c.event_id, audit_seals.c.body)
        .where(audit_seals.c.seq > after)
        .order_by(audit_seals.c.seq)
        .limit(limit)
    )
    return list(conn.execute(query))


def events(conn: Connection, event_ids: Sequence[int]) -> dict[int, Any]:
    """These events' rows, by id, as the chain encodes them."""
    if not event_ids:
        return {}
    return {row.id: row for row in conn.execute(select(*EVENT_COLUMNS).where(audit_events.c.id.in_(event_ids)))}


def seal_of(conn: Connection, event_id: int) -> Any:
    """The seal of an event, as ``leaves`` gives it, None while it is unsealed (or if there is no such event)."""
    query = select(audit_seals.c.seq, audit_seals.c.event_id, audit_seals.c.body)
    return conn.execute(query.where(audit_seals.c.event_id == event_id)).first()


_CHECKPOINT = (
    audit_checkpoints.c.size,
    audit_checkpoints.c.root,
    audit_checkpoints.c.note,
    audit_checkpoints.c.url,
    audit_checkpoints.c.written_at,
)


def _checkpoint(row: Any) -> StoredCheckpoint | None:
    if row is None:
        return None
    return StoredCheckpoint(int(row.size), bytes(row.root), str(row.note), str(row.url), as_utc(row.written_at))


def last_checkpoint(conn: Connection) -> StoredCheckpoint | None:
    return _checkpoint(conn.execute(select(*_CHECKPOINT).order_by(audit_checkpoints.c.size.desc()).limit(1)).first())


def checkpoint(conn: Connection, size: int) -> StoredCheckpoint | None:
    return _checkpoint(conn.execute(select(*_CHECKPOINT).where(audit_checkpoints.c.size == size)).first())


def add_checkpoint(conn: Connection, size: int, root: bytes, note: str, url: str, at: datetime) -> None:
    conn.execute(insert(audit_checkpoints).values(size=size, root=root, note=note, url=url, written_at=at))
