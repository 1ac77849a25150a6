"""Recording, sealing and verifying audit events.

A request writes its events unsealed, in its own transaction, with no global lock. One sealer (an advisory
lock on PostgreSQL, the write lock on SQLite) appends seals in the order it sees events commit, so a late
commit with a low id is sealed late rather than lost from the chain.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection

from signoff.audit.chain import ENCODING, GENESIS, chained, link_body, row_body, utc_text
from signoff.domain import AuditEvent
from signoff.store import audit as audit_store
from signoff.store.database import Database, as_utc
from signoff.store.records import ChainLink


def record(db: Database, conn: Connection, events: list[AuditEvent], at: datetime | None = None) -> None:
    """Append events in the caller's transaction: they commit or vanish together with the change. ``at`` is
    the database time the caller already read in this transaction, if any."""
    audit_store.append(db, conn, events, at or db.now(conn))


def seal(db: Database, batch: int = 5000, *, full: bool = False) -> int:
    """Seal the committed, unsealed events; returns how many were sealed (0 if another sealer is busy).

    Routinely it looks only near the top of the chain (``audit_store.unsealed_above``), so a run costs the same with
    a million events sealed as with none; ``full`` looks at every event, for one committed far out of id order."""
    total = 0
    while True:
        with db.transaction() as conn:
            if not db.run(conn, "lock_sealer")[0].locked:
                return total
            last = audit_store.last_seal(conn)
            seq, prev = (last.seq, last.hash) if last else (0, GENESIS)
            rows = audit_store.unsealed(conn, batch, audit_store.unsealed_above(conn, full=full))
            now = db.now(conn)
            seals: list[dict[str, Any]] = []
            for row in rows:
                seq += 1
                body = row_body(row.id, row)
                digest = chained(prev, body)
                seals.append(
                    {"seq": seq, "event_id": row.id, "prev_hash": prev, "hash": digest}
                    | {"sealed_at": now, "encoding": ENCODING, "body": body}
                )
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


STALLED_AFTER = 60.0  # seconds an event may wait for its seal before sealing counts as stalled (as the alert rule)


@dataclass(frozen=True)
class Stall:
    """Events wait to be sealed for longer than ``STALLED_AFTER``: no sealer is running, or it makes no progress.
    Until they are sealed, nothing vouches for them, and checkpoints and webhooks do not move past them."""

    unsealed: int
    oldest_age: float

    def __str__(self) -> str:
        return (
            f"audit sealing has stalled: {self.unsealed} event(s) not sealed, the oldest {self.oldest_age:.0f} s old; "
            "is a server running? 'signoff audit seal' seals them"
        )


def stalled(db: Database) -> Stall | None:
    """A ``Stall`` if the oldest event not yet sealed (where the sealer routinely looks) waited too long."""
    with db.transaction(write=False) as conn:
        count, oldest, _ = audit_store.lag(conn)
        now = db.now(conn)
    age = 0.0 if oldest is None else (now - as_utc(oldest)).total_seconds()
    return Stall(count, age) if age > STALLED_AFTER else None


@dataclass(frozen=True)
class VerifyReport:
    checked: int
    unsealed: int
    breach: Breach | None
    stall: Stall | None = None

    @property
    def ok(self) -> bool:
        return self.breach is None and self.stall is None


MISSING = "this seal is missing"
DELETED = "the event was deleted"
UNLINKED = "the seal does not follow the one before it"
ALTERED = "its content was altered after it was sealed (hash mismatch)"
BYTES_ALTERED = "the canonical bytes kept with its seal were altered (hash mismatch)"
DUPLICATE = "its stored data names {keys} twice in one object, so readers of the stored JSON disagree on what it says"
UNKNOWN_ENCODING = "it was sealed with canonical encoding {encoding}, which this version of Signoff does not know"
# How far an event's time may lie before the time the seal ahead of it was made. Events commit a little out of
# order, and an event carries the time its transaction read, so a long transaction's events are sealed late; an
# event dated further back was written back-dated, past seals it claims to precede.
BACKDATED_AFTER = timedelta(hours=1)
BACKDATED = "it is dated {at}, {gap} before the seal ahead of it was made ({sealed}): it was written back-dated"
FUTURE = "it is dated {at}, after it was sealed ({sealed})"
CLOCK_SKEW = timedelta(minutes=5)  # servers' clocks may disagree this much (SQLite's times are the servers')

PARALLEL_FROM = 100_000  # seals: below this, one pass takes about as long as starting the worker processes


def verify(db: Database, jobs: int | None = 1) -> VerifyReport:
    """Recompute the whole chain and name the first event that does not match what was sealed.

    With ``jobs`` > 1 the chain is cut into that many spans of seals, each checked in a process of its own (each
    seal holds the hash of the one before it, so a span can be checked without the others); the spans are then
    joined in order, and the report is the one a single pass would give. ``None`` uses every CPU for a chain of
    ``PARALLEL_FROM`` seals or more, one process below that. An in-memory SQLite database is checked in one pass.
    """
    with db.transaction(write=False) as conn:
        unsealed = audit_store.count_unsealed(conn)
        last = audit_store.last_seq(conn)
    stall = stalled(db)
    if jobs is None:
        jobs = (os.cpu_count() or 1) if last >= PARALLEL_FROM else 1
    if jobs <= 1 or last < jobs or db.in_memory:
        checked, breach = _join([_check_span(db, 0, last)])
        return VerifyReport(checked, unsealed, breach, stall)
    from joblib import Parallel, delayed  # here: importing it costs every other use of this module 0.2 s

    bounds = [last * i // jobs for i in range(jobs + 1)]
    # joblib's loky workers, not multiprocessing's: they start fresh (a fork would share this process's pooled
    # connections) without importing the calling program first, as multiprocessing's spawn does (seconds for the
    # signoff CLI), and they are kept for the next call.
    spans = Parallel(n_jobs=jobs, backend="loky")(
        delayed(_check_span_of)(db.url, after, upto) for after, upto in itertools.pairwise(bounds)
    )
    checked, breach = _join(spans)
    return VerifyReport(checked, unsealed, breach, stall)


class _Head(NamedTuple):
    """A span's first seal as found: only the span before it can say whether it follows on."""

    seq: int
    event_id: int
    prev_hash: str
    found_id: int | None


@dataclass(frozen=True)
class _Span:
    """What checking one span of seals found: its first seal; how many seals passed in order; the number and hash
    of the last one that did; and the first breach inside the span."""

    head: _Head | None
    checked: int
    last_seq: int
    last_hash: str
    breach: Breach | None


def _check_span_of(url: str, after: int, upto: int) -> _Span:
    """``_check_span`` in a worker process, on a connection of its own."""
    db = Database(url, pool_size=1)
    try:
        return _check_span(db, after, upto)
    finally:
        db.dispose()


def _check_span(db: Database, after: int, upto: int) -> _Span:
    """Check seals ``after + 1`` to ``upto``, taking the first one's previous hash on trust (``_join`` checks it).

    The database checks every seal against the one numbered before it (``audit_store.chain_check``) and hands back
    only those it cannot vouch for; each is checked here exactly. Seals it vouches for follow on without a gap, so
    the seals checked before one are counted from the span's first."""
    with db.transaction(write=False) as conn:
        ends = audit_store.span_ends(conn, after, upto)
        if ends is None:
            return _Span(None, 0, after, "", None)
        first, last = ends
        (link,) = audit_store.chain(db, conn, after=first - 1, upto=first)
        head = _Head(link.seq, link.event_id, link.prev_hash, link.found_id)
        why = _checked(link, first - 1, link.prev_hash, audit_store.seal_time(conn, after))
        if why is not None:
            return _Span(head, 0, first - 1, link.prev_hash, _breach(link, first - 1, why))
        found = audit_store.chain_check(
            db, conn, after=first, upto=last, encoding=ENCODING, times=(BACKDATED_AFTER, CLOCK_SKEW), digest=chained
        )
        for link, before_hash, before_sealed in found:
            if before_hash is not None:
                seq, prev, ahead = link.seq - 1, before_hash, before_sealed
            else:  # a gap: the seal before it is further back
                seq, prev, ahead = audit_store.seal_before(conn, link.seq) or (first, "", None)
            why = _checked(link, seq, prev, ahead)
            if why is not None:
                return _Span(head, seq - first + 1, seq, prev, _breach(link, seq, why))
        return _Span(head, last - first + 1, last, audit_store.seal_hash(conn, last) or "", None)


def _checked(link: ChainLink, seq: int, prev: str, ahead: datetime | None) -> str | None:
    """What is wrong with this seal, after seal ``seq`` whose hash is ``prev`` and which was made at ``ahead``."""
    return _misplaced(link, seq, prev) or _unsound(link, prev, ahead, "" if link.at is None else utc_text(link.at))


def _misplaced(seal: Any, seq: int, prev: str) -> str | None:
    """What is wrong with where this seal stands, after seal ``seq`` whose hash is ``prev`` (its content aside)."""
    if seal.seq != seq + 1:
        return MISSING
    if seal.found_id is None:
        return DELETED
    if seal.prev_hash != prev:
        return UNLINKED
    return None


def _breach(seal: Any, seq: int, why: str) -> Breach:
    """The breach ``why`` at this seal, found after seal ``seq``: a missing seal is the one numbered next."""
    return Breach(seq + 1 if why == MISSING else seal.seq, seal.event_id, why)


def _unsound(seal: ChainLink, prev: str, ahead: datetime | None, at: str) -> str | None:
    """What is wrong with the event this seal holds: its bytes and its content against the hash, its JSON, and its
    time against the seals around it (``ahead``: when the seal before it was made; ``at``: the event's time as
    ``utc_text``)."""
    if seal.encoding != ENCODING:
        return UNKNOWN_ENCODING.format(encoding=seal.encoding)
    if isinstance(seal.data, audit_store.DuplicateKeys):
        return DUPLICATE.format(keys=", ".join(repr(k) for k in seal.data.keys))
    body = link_body(seal, at)
    if seal.body is None:  # not kept (see audit_seals.body): the content alone against the hash
        if chained(prev, body) != seal.seal_hash:
            return ALTERED
    elif chained(prev, seal.body) != seal.seal_hash:
        return BYTES_ALTERED
    elif body != seal.body:
        return ALTERED
    assert seal.at is not None  # _misplaced found the event
    if ahead is not None and seal.at < ahead - BACKDATED_AFTER:
        return BACKDATED.format(at=seal.at.isoformat(), gap=ahead - seal.at, sealed=ahead.isoformat())
    if seal.at > seal.sealed_at + CLOCK_SKEW:
        return FUTURE.format(at=seal.at.isoformat(), sealed=seal.sealed_at.isoformat())
    return None


def _join(spans: list[_Span]) -> tuple[int, Breach | None]:
    """Follow the spans in order from the genesis hash: (seals checked, the first breach)."""
    checked, seq, prev = 0, 0, GENESIS
    for span in spans:
        if span.head is None:
            continue  # no seal in this span: a gap, seen at the next span that has one
        misplaced = _misplaced(span.head, seq, prev)
        if misplaced is not None:
            return checked, _breach(span.head, seq, misplaced)
        checked += span.checked
        if span.breach is not None:
            return checked, span.breach
        seq, prev = span.last_seq, span.last_hash
    return checked, None


VERIFIED = "audit.verified"  # the action of the event that records a verification of the chain


def verify_and_record(db: Database, actor: str, checkpoints: Callable[[], str | None] | None = None) -> VerifyReport:
    """Verify the whole chain and record who did so and what they found, as an audit event of its own. A full
    check reads every event (seconds per million), so pages show the latest of these instead of recomputing.
    ``checkpoints``, if given, checks the signed checkpoints too and returns their first problem."""
    started = time.perf_counter()
    report = verify(db)
    problem = None if checkpoints is None or report.breach is not None else checkpoints()
    found = {
        "checked": report.checked,
        "unsealed": report.unsealed,
        "intact": report.ok and problem is None,
        "breach": str(report.breach) if report.breach is not None else problem,
        "stall": None if report.stall is None else str(report.stall),
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
    stall: str | None = None


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
        found.get("stall"),  # absent from verifications recorded before stalls were reported
    )
