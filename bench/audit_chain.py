"""Audit chain: seal and verify rates, and how soon a committed event is sealed, beside a bare hashing floor.

On SQLite (a file in a temporary folder) and on PostgreSQL (a database of its own, dropped at the end):

1. Seal. ``--events`` audit events (default 200,000; each like a submitted review's, with a five-key JSON object)
   are written in bulk, then ``audit.seal`` seals them all as the server's sealer does (one sealer, batches of
   5,000, each batch in one transaction). Target: >= 10,000 events/s.
2. Verify. With PostgreSQL's statistics gathered, as autovacuum would after such a load (without them, one pass
   ran at less than half the speed here), ``audit.verify`` recomputes the whole chain from the database: in one
   pass (``jobs=1``), and cut into one span of seals per CPU, each checked in a worker process
   (``jobs=os.cpu_count()``, what ``signoff audit verify`` does from ``audit.PARALLEL_FROM`` seals; the time
   includes starting the workers, each of which imports this script first). Target: >= 100,000 events/s.
3. The floor, in the same run: the same rows read with one streaming SELECT (the driver's plain tuples, the JSON
   left unread) and SHA-256 chained over the same canonical bytes, made beforehand: what a check of the chain
   costs if nothing had to be decoded, encoded or compared. (A check now hashes the bytes each seal keeps and
   compares them with the event in the database, returning only the seals the database cannot vouch for, so it
   can beat this floor, which reads every row into Python; the floor is kept as the measure it was.) One pass /
   floor says how close a check comes to it, spans / floor what the spare cores win back. Floor, one pass and
   spans are run ``--rounds`` times, alternated, and the best of each kept: the machine's load moves all three
   alike.
4. Sealed within. A writer records one event every ``--interval`` ms for ``--seconds`` s, each in its own
   transaction (``audit.record``), while a sealer runs every 0.25 s as in ``signoff serve``; for every event, the
   time from its ``at`` (the database clock in its transaction) to its seal's ``sealed_at``: p50, p95, max.
   Target: sealed within 1 s.

Run: ``make bench-audit`` or ``.venv/bin/python bench/audit_chain.py`` (``--events 20000`` for a quick look,
``--events 1000000`` for the figures in docs/reference/benchmarks.md). It
prints numbers and verdicts; it asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import threading
import time
from dataclasses import dataclass

import numpy as np
from review_queue import (
    DEFAULT_POSTGRES,
    analyze,
    console,
    load_average,
    machine_facts,
    progress_bar,
    signoff_database,
    verdict,
)
from rich.table import Table
from sqlalchemy import text

from signoff import audit
from signoff.audit import chain
from signoff.domain import AuditEvent
from signoff.store import audit as audit_store
from signoff.store.database import Database, as_utc

TARGET_SEAL = 10_000.0
TARGET_VERIFY = 100_000.0
TARGET_SEALED_WITHIN = 1.0
SEALER_PERIOD = 0.25  # as signoff serve's sealer


def write_events(db: Database, n: int, chunk: int = 50_000) -> None:
    """N events like a submitted review's, written in bulk by the database itself."""
    if db.dialect == "sqlite":
        series = "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < :n) "
        source, now, cast = "seq", "strftime('%Y-%m-%d %H:%M:%f000', 'now')", "CAST(:base + i AS TEXT)"
        # keys in sorted order, no spaces: the form ``audit.record`` stores an event's data in
        data = "json_object('case_id', :base + i, 'comment', '', 'label', 'good', 'review_id', :base + i, 'token', 1)"
    else:
        series, source, now, cast = "", "generate_series(1, :n) AS i", "now()", "CAST(:base + i AS text)"
        data = (
            "jsonb_build_object('case_id', :base + i, 'token', 1, 'review_id', :base + i, 'label', 'good', "
            "'comment', '')"
        )
    statement = text(
        f"INSERT INTO audit_events (at, actor, action, entity, entity_id, data) "
        f"{series}SELECT {now}, 'bench-reviewer', 'review.submitted', 'task', {cast}, {data} FROM {source}"
    )
    with progress_bar() as bar:
        shown = bar.add_task(f"{db.dialect}: writing {n:,} audit events", total=n)
        for base in range(0, n, chunk):
            size = min(chunk, n - base)
            with db.transaction() as conn:
                conn.execute(statement, {"n": size, "base": base})
            bar.advance(shown, size)


def canonical_bodies(db: Database) -> list[bytes]:
    """The canonical bytes of every sealed event, in chain order, made once ahead of the floor (not timed)."""
    with db.transaction(write=False) as conn:
        return [
            chain.canonical(
                link.event_id, link.at, link.actor, link.action, link.entity, link.entity_id, link.data, encoding=1
            )
            for link in audit_store.chain(db, conn)
            if link.at is not None
            and link.actor is not None
            and link.action is not None
            and link.entity is not None
            and link.entity_id is not None
        ]


def floor(db: Database, bodies: list[bytes]) -> float:
    """The bare floor of a check of the chain: the same rows read with one streaming SELECT (the driver's plain
    tuples), and SHA-256 chained over the same canonical bytes, already made; seconds. What ``verify`` adds on top
    is decoding each event's stored JSON and encoding it canonically, and checking each seal."""
    started = time.perf_counter()
    prev, count = audit.GENESIS, 0
    with db.transaction(write=False) as conn:
        for rows in db.stream(conn, "chain", 10_000, bytes, after=0, upto=audit_store.MAX_SEQ):  # JSON unread
            for _row, body in zip(rows, bodies[count : count + len(rows)], strict=True):
                prev = hashlib.sha256(prev.encode() + body).hexdigest()
            count += len(rows)
    if count != len(bodies):
        raise RuntimeError(f"the floor read {count:,} seals, not {len(bodies):,}")
    return time.perf_counter() - started


def sealing_lag(db: Database, seconds: float, interval: float) -> list[float]:
    """Record an event every ``interval`` s for ``seconds`` s while a sealer runs every 0.25 s; each event's lag
    from its time to its seal's time, in seconds."""
    first = audit_store.last_seq
    with db.transaction(write=False) as conn:
        start_seq = first(conn)
    stop = threading.Event()

    def sealer() -> None:
        while not stop.wait(SEALER_PERIOD):
            audit.seal(db)

    thread = threading.Thread(target=sealer, daemon=True)
    thread.start()
    deadline = time.perf_counter() + seconds
    count = 0
    while time.perf_counter() < deadline:
        with db.transaction() as conn:
            audit.record(db, conn, [AuditEvent("bench-reviewer", "task.claimed", "task", str(count), {"n": count})])
        count += 1
        time.sleep(interval)
    time.sleep(2 * SEALER_PERIOD)
    stop.set()
    thread.join()
    audit.seal(db)
    with db.transaction(write=False) as conn:
        rows = conn.execute(
            text(
                "SELECT e.at, s.sealed_at FROM audit_seals s JOIN audit_events e ON e.id = s.event_id "
                "WHERE s.seq > :seq"
            ),
            {"seq": start_seq},
        ).all()
    return [(as_utc(sealed) - as_utc(at)).total_seconds() for at, sealed in rows]


@dataclass
class Result:
    backend: str
    events: int
    seal_seconds: float
    verify_seconds: float
    spans_seconds: float
    floor_seconds: float
    lags: list[float]
    intact: bool


def run(backend: str, postgres_url: str, n: int, seconds: float, interval: float, rounds: int) -> Result:
    with signoff_database(backend, postgres_url) as (db, _project):
        write_events(db, n)
        with console.status(f"{backend}: sealing {n:,} events"):
            started = time.perf_counter()
            sealed = audit.seal(db)
            seal_seconds = time.perf_counter() - started
        analyze(db)  # PostgreSQL's statistics, as autovacuum would gather them
        with console.status(f"{backend}: making the canonical bytes of {sealed:,} events for the floor (not timed)"):
            bodies = canonical_bodies(db)  # this read also warms the caches for what follows
        verify_seconds, spans_seconds, floor_seconds = [], [], []
        for _round in range(rounds):  # alternated, so that a change in the machine's load shows in all three
            with console.status(f"{backend}: the floor over {sealed:,} events"):
                floor_seconds.append(floor(db, bodies))
            with console.status(f"{backend}: verifying {sealed:,} events in one pass"):
                started = time.perf_counter()
                report = audit.verify(db, jobs=1)
                verify_seconds.append(time.perf_counter() - started)
            with console.status(f"{backend}: verifying {sealed:,} events in spans"):
                started = time.perf_counter()
                in_spans = audit.verify(db, jobs=os.cpu_count())
                spans_seconds.append(time.perf_counter() - started)
        del bodies
        with console.status(f"{backend}: one event every {interval * 1000:.0f} ms for {seconds:.0f} s, sealer running"):
            lags = sealing_lag(db, seconds, interval)
    intact = report.ok and in_spans == report and report.checked == sealed
    return Result(
        backend, sealed, seal_seconds, min(verify_seconds), min(spans_seconds), min(floor_seconds), lags, intact
    )


def report(results: list[Result], facts: list[str]) -> None:
    console.rule("Signoff audit chain")
    for fact in facts:
        console.print(fact, highlight=False)
    table = Table(title="Seal and verify")
    columns = ("backend", "events", "seal events/s", "target", "", "verify: one pass", "in spans", "target", " ")
    for column in (*columns, "floor"):
        table.add_column(column, justify="left" if column in ("backend", "target", "", " ") else "right")
    for r in results:
        seal_rate, verify_rate = r.events / r.seal_seconds, r.events / r.verify_seconds
        spans_rate = r.events / r.spans_seconds
        table.add_row(
            r.backend,
            f"{r.events:,}",
            f"{seal_rate:,.0f}",
            f">= {TARGET_SEAL:,.0f}",
            verdict(seal_rate >= TARGET_SEAL),
            f"{verify_rate:,.0f}",
            f"{spans_rate:,.0f}" + ("" if r.intact else " (chain broken, or the two reports differ!)"),
            f">= {TARGET_VERIFY:,.0f}",
            verdict(max(verify_rate, spans_rate) >= TARGET_VERIFY and r.intact),
            f"{r.events / r.floor_seconds:,.0f}",
        )
    console.print(table)
    for r in results:
        console.print(
            f"{r.backend}: one pass / floor = {r.floor_seconds / r.verify_seconds:.2f}, spans / floor = "
            f"{r.floor_seconds / r.spans_seconds:.2f} with {os.cpu_count()} worker processes (the floor streams the "
            "same rows and chains SHA-256 over their canonical bytes made beforehand, in one process)"
        )
    lags = Table(title=f"Sealed within (a sealer every {SEALER_PERIOD} s, as in signoff serve)")
    for column in ("backend", "events", "p50 s", "p95 s", "max s", "target", ""):
        lags.add_column(column, justify="left" if column in ("backend", "target", "") else "right")
    for r in results:
        values = np.array(r.lags)
        worst = float(values.max()) if len(values) else float("nan")
        lags.add_row(
            r.backend,
            f"{len(values):,}",
            f"{np.percentile(values, 50):.3f}",
            f"{np.percentile(values, 95):.3f}",
            f"{worst:.3f}",
            f"max < {TARGET_SEALED_WITHIN:.0f} s",
            verdict(worst < TARGET_SEALED_WITHIN),
        )
    console.print(lags)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--events", type=int, default=200_000, help="events sealed and verified")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long events are recorded for the lag")
    parser.add_argument("--interval", type=float, default=2.0, help="ms between recorded events for the lag")
    parser.add_argument("--rounds", type=int, default=2, help="floor, one pass and spans, alternated; best kept")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    args = parser.parse_args()
    load_before = load_average()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    results = [
        run(b, args.postgres_url, args.events, args.seconds, args.interval / 1000, args.rounds) for b in backends
    ]
    report(results, machine_facts(args.postgres_url if "postgresql" in backends else None, load_before))


if __name__ == "__main__":
    main()
