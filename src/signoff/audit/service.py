"""Recording, sealing and verifying audit events.

A request writes its events unsealed, in its own transaction, with no global lock. One sealer (an advisory
lock on PostgreSQL, the write lock on SQLite) appends seals in the order it sees events commit, so a late
commit with a low id is sealed late rather than lost from the chain.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from signoff.audit.chain import GENESIS, row_hash
from signoff.domain import AuditEvent
from signoff.store import audit as audit_store
from signoff.store.database import Database


def record(db: Database, conn: Connection, events: list[AuditEvent], at: datetime | None = None) -> None:
    """Append events in the caller's transaction: they commit or vanish together with the change. ``at`` is
    the database time the caller already read in this transaction, if any."""
    audit_store.append(db, conn, events, at or db.now(conn))


def seal(db: Database, batch: int = 5000) -> int:
    """Seal every committed, unsealed event; returns how many were sealed (0 if another sealer is busy)."""
    total = 0
    while True:
        with db.transaction() as conn:
            if not db.run(conn, "lock_sealer")[0].locked:
                return total
            last = audit_store.last_seal(conn)
            seq, prev = (last.seq, last.hash) if last else (0, GENESIS)
            rows = audit_store.unsealed(conn, batch)
            now = db.now(conn)
            seals: list[dict[str, Any]] = []
            for row in rows:
                seq += 1
                digest = row_hash(prev, row.id, row)
                seals.append({"seq": seq, "event_id": row.id, "prev_hash": prev, "hash": digest, "sealed_at": now})
                prev = digest
            audit_store.append_seals(conn, seals)
        total += len(rows)
        if len(rows) < batch:
            return total


@dataclass(frozen=True)
class Breach:
    """The first place where the chain and the events disagree."""

    seq: int
    event_id: int
    why: str

    def __str__(self) -> str:
        return f"audit event {self.event_id} (seal {self.seq}): {self.why}"


@dataclass(frozen=True)
class VerifyReport:
    checked: int
    unsealed: int
    breach: Breach | None

    @property
    def ok(self) -> bool:
        return self.breach is None


def verify(db: Database) -> VerifyReport:
    """Recompute the whole chain and name the first event that does not match what was sealed."""
    checked = 0
    prev = GENESIS
    with db.transaction(write=False) as conn:
        unsealed = audit_store.count_unsealed(conn)
        for row in audit_store.chain(conn):
            if row.seq != checked + 1:
                return VerifyReport(checked, unsealed, Breach(checked + 1, row.event_id, "this seal is missing"))
            if row.found_id is None:
                return VerifyReport(checked, unsealed, Breach(row.seq, row.event_id, "the event was deleted"))
            if row.prev_hash != prev:
                return VerifyReport(
                    checked,
                    unsealed,
                    Breach(row.seq, row.event_id, "the seal does not follow the one before it"),
                )
            digest = row_hash(prev, row.event_id, row)
            if digest != row.seal_hash:
                return VerifyReport(
                    checked,
                    unsealed,
                    Breach(row.seq, row.event_id, "its content was altered after it was sealed (hash mismatch)"),
                )
            prev = digest
            checked += 1
    return VerifyReport(checked, unsealed, None)


VERIFIED = "audit.verified"  # the action of the event that records a verification of the chain


def verify_and_record(db: Database, actor: str) -> VerifyReport:
    """Verify the whole chain and record who did so and what they found, as an audit event of its own. A full
    check reads every event (seconds per million), so pages show the latest of these instead of recomputing."""
    started = time.perf_counter()
    report = verify(db)
    found = {
        "checked": report.checked,
        "unsealed": report.unsealed,
        "intact": report.ok,
        "breach": None if report.breach is None else str(report.breach),
        "seconds": round(time.perf_counter() - started, 3),
    }
    with db.transaction() as conn:
        record(db, conn, [AuditEvent(actor, VERIFIED, "audit", "chain", found)])
    return report


@dataclass(frozen=True)
class Verification:
    """The latest recorded verification of the chain, and how many events were sealed after it."""

    actor: str
    at: datetime
    checked: int
    unsealed: int
    intact: bool
    breach: str | None
    seconds: float
    sealed_since: int


def last_verification(db: Database) -> Verification | None:
    with db.transaction(write=False) as conn:
        row = audit_store.latest(conn, "audit", "chain", VERIFIED)
        if row is None:
            return None
        found = row.data
        since = max(audit_store.last_seq(conn) - found["checked"], 0)
    return Verification(
        row.actor,
        row.at,
        found["checked"],
        found["unsealed"],
        found["intact"],
        found["breach"],
        found["seconds"],
        since,
    )
