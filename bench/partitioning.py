"""Partitioning: what PostgreSQL declarative partitioning by time would buy the cases and audit tables.

In a scratch database of its own (created, then dropped), the script generates ``--rows`` cases (default 10M) and
as many audit events with ``generate_series``, spread evenly over ``--months`` months up to now, in two copies of
each table: a plain one, shaped as Signoff's ``cases`` and ``audit_events`` (primary key on id, the same secondary
indexes), and one partitioned by month (``PARTITION BY RANGE (created_at)`` / ``(at)``), where PostgreSQL requires
every unique index, the primary key included, to hold the partition key: (id, created_at). One ``audit_seals``
table seals all but the newest 5,000 events, in id order, for both. Statistics are gathered (``VACUUM ANALYZE``)
as autovacuum would after such a load.

Then the queries the store runs on these tables, each on the plain and the partitioned copy, alternately, in the
same run; the median of ``--repeats`` timings of a batch (the ratio partitioned / plain is the number to read):

- by id: ``WHERE id = ?`` for random ids (a case page, every task and prediction join); no time in the key, so the
  partitioned table probes every partition.
- by external id: ``WHERE flow = ? AND external_id = ?`` (intake's idempotency look-up).
- recent window: a day's and a week's cases of one flow (the metrics windows, ``store/metrics.py``).
- intake: 50,000 new cases inserted in one statement (rolled back, so each repeat finds the same table).
- sealer tail: the sealer's look for unsealed events above the last sealed id less 10,000 (``store/audit.py``).
- verify span: 5,000 seals from a random place joined to their events by id (``sealed_after``, audit verify).
- a case's events: ``WHERE entity = 'case' AND entity_id = ?`` (the decision record).
- retention: the oldest month removed, once: ``DELETE`` + ``VACUUM`` on the plain table against ``DETACH
  PARTITION`` + ``DROP TABLE`` on the partitioned one; sizes before.

Run: ``make bench-partitioning`` or ``.venv/bin/python bench/partitioning.py`` (``--rows 1000000`` for a quick
look; 10M rows took 15 minutes and about 15 GB of disk on a loaded 2-core machine). It prints numbers; it asserts
nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from review_queue import DEFAULT_POSTGRES, console, load_average, machine_facts, postgres_database
from rich.table import Table

SEALED_BEHIND = 5_000  # events left unsealed at the tail
LATE_WINDOW = 10_000  # as store/audit.py: the sealer looks this far below the highest sealed id
CHUNK = 1_000_000

CASE_COLUMNS = """
    id bigint NOT NULL, flow varchar(63) NOT NULL, external_id varchar(200), fields jsonb NOT NULL,
    payload_hash varchar(64) NOT NULL, groups jsonb NOT NULL, status varchar(20) NOT NULL,
    created_at timestamptz NOT NULL, decided_at timestamptz, submitted_by varchar(200), entity varchar(200)"""
EVENT_COLUMNS = """
    id bigint NOT NULL, at timestamptz NOT NULL, actor varchar(200) NOT NULL, action varchar(63) NOT NULL,
    entity varchar(63) NOT NULL, entity_id varchar(200) NOT NULL, data jsonb NOT NULL"""


@dataclass(frozen=True)
class Span:
    """The generated rows: ``rows`` of each table, evenly from ``start`` to ``end``, cut into months."""

    rows: int
    start: datetime
    end: datetime
    months: list[datetime]  # each month's first instant, the last one past ``end``

    def at(self, row_id: int) -> datetime:
        return self.start + (self.end - self.start) * (row_id / self.rows)


def span(rows: int, months: int) -> Span:
    now = datetime.now(UTC)
    first = (now.replace(day=1, hour=0, minute=0, second=0, microsecond=0) - timedelta(days=31 * (months - 1))).replace(
        day=1
    )
    bounds = [first]
    while bounds[-1] <= now:
        bounds.append((bounds[-1] + timedelta(days=32)).replace(day=1))
    return Span(rows, first, now, bounds)


def create_tables(conn: psycopg.Connection[Any], s: Span) -> None:
    conn.execute(f"CREATE TABLE cases_plain ({CASE_COLUMNS})")
    conn.execute(f"CREATE TABLE cases_part ({CASE_COLUMNS}) PARTITION BY RANGE (created_at)")
    conn.execute(f"CREATE TABLE audit_plain ({EVENT_COLUMNS})")
    conn.execute(f"CREATE TABLE audit_part ({EVENT_COLUMNS}) PARTITION BY RANGE (at)")
    for lower, upper in zip(s.months, s.months[1:], strict=False):
        name = lower.strftime("%Y_%m")
        for table in ("cases_part", "audit_part"):
            conn.execute(
                f"CREATE TABLE {table}_{name} PARTITION OF {table} FOR VALUES FROM ('{lower.isoformat()}') "
                f"TO ('{upper.isoformat()}')"
            )
    conn.execute(
        "CREATE TABLE audit_seals (seq bigint PRIMARY KEY, event_id bigint NOT NULL UNIQUE, "
        "prev_hash varchar(64) NOT NULL, hash varchar(64) NOT NULL, sealed_at timestamptz NOT NULL)"
    )


def generate(conn: psycopg.Connection[Any], s: Span, progress: Callable[[str], None]) -> dict[str, float]:
    """Fill the plain tables with generate_series, copy them into the partitioned ones, index all of them, and
    return how long each step took (s)."""
    took: dict[str, float] = {}
    step = (s.end - s.start) / s.rows
    for low in range(1, s.rows + 1, CHUNK):
        high = min(low + CHUNK - 1, s.rows)
        started = time.perf_counter()
        conn.execute(
            """INSERT INTO cases_plain
               SELECT i, CASE WHEN mod(i, 4) = 0 THEN 'fraud-check' ELSE 'credit-approval' END, 'ext-' || i,
                      jsonb_build_object('amount', mod(i, 50000), 'income', mod(i * 7, 200000),
                                         'term', 12 + mod(i, 48)),
                      md5(i::text), jsonb_build_object('region', 'r' || (mod(i, 5))),
                      CASE WHEN mod(i, 10) = 0 THEN 'review' ELSE 'decided' END,
                      %(start)s + %(step)s * i, %(start)s + %(step)s * i, NULL, 'applicant-' || (mod(i, 1000000))
               FROM generate_series(%(low)s::bigint, %(high)s::bigint) AS i""",
            {"start": s.start, "step": step, "low": low, "high": high},
        )
        conn.execute(
            """INSERT INTO audit_plain
               SELECT i, %(start)s + %(step)s * i, 'intake', 'case.recorded', 'case', (i)::text,
                      jsonb_build_object('flow', 'credit-approval', 'route', 'auto', 'rule', 'default', 'score', 0.5)
               FROM generate_series(%(low)s::bigint, %(high)s::bigint) AS i""",
            {"start": s.start, "step": step, "low": low, "high": high},
        )
        took["generate plain"] = took.get("generate plain", 0.0) + time.perf_counter() - started
        progress(f"generated {high:,} of {s.rows:,} rows of each table")
    for source, target in (("cases_plain", "cases_part"), ("audit_plain", "audit_part")):
        started = time.perf_counter()
        conn.execute(f"INSERT INTO {target} SELECT * FROM {source}")
        took[f"copy into {target}"] = time.perf_counter() - started
        progress(f"copied {source} into {target}")
    statements = {
        "index plain": [
            "ALTER TABLE cases_plain ADD PRIMARY KEY (id)",
            "ALTER TABLE cases_plain ADD UNIQUE (flow, external_id)",
            "CREATE INDEX ON cases_plain (flow, created_at)",
            "ALTER TABLE audit_plain ADD PRIMARY KEY (id)",
            "CREATE INDEX ON audit_plain (entity, entity_id)",
        ],
        "index partitioned": [
            "ALTER TABLE cases_part ADD PRIMARY KEY (id, created_at)",
            "ALTER TABLE cases_part ADD UNIQUE (flow, external_id, created_at)",
            "CREATE INDEX ON cases_part (flow, created_at)",
            "ALTER TABLE audit_part ADD PRIMARY KEY (id, at)",
            "CREATE INDEX ON audit_part (entity, entity_id)",
        ],
    }
    for label, sql in statements.items():
        started = time.perf_counter()
        for statement in sql:
            conn.execute(statement)
        took[label] = time.perf_counter() - started
        progress(label)
    conn.execute(
        """INSERT INTO audit_seals
           SELECT id, id, md5((id - 1)::text) || md5((id - 1)::text), md5(id::text) || md5(id::text), at
           FROM audit_plain WHERE id <= %(sealed)s""",
        {"sealed": s.rows - SEALED_BEHIND},
    )
    conn.execute("VACUUM ANALYZE")
    progress("sealed and analysed")
    return took


@dataclass(frozen=True)
class Timing:
    query: str
    unit: str
    plain: float
    partitioned: float

    @property
    def ratio(self) -> float:
        return self.partitioned / self.plain if self.plain else float("nan")


def _median_pair(
    conn: psycopg.Connection[Any],
    repeats: int,
    run: Callable[[psycopg.Connection[Any], str], None],
    tables: tuple[str, str],
) -> tuple[float, float]:
    """Median seconds of ``run`` on each of the two tables, alternating plain and partitioned."""
    times: dict[str, list[float]] = {tables[0]: [], tables[1]: []}
    for _ in range(repeats):
        for table in tables:
            started = time.perf_counter()
            run(conn, table)
            times[table].append(time.perf_counter() - started)
    return statistics.median(times[tables[0]]), statistics.median(times[tables[1]])


def measure(conn: psycopg.Connection[Any], s: Span, repeats: int) -> list[Timing]:
    rng = random.Random(17)
    cases = ("cases_plain", "cases_part")
    events = ("audit_plain", "audit_part")
    ids = [rng.randint(1, s.rows) for _ in range(1000)]
    seqs = [rng.randint(1, s.rows - 2 * SEALED_BEHIND) for _ in range(repeats)]
    results: list[Timing] = []

    def per_id(sql: str, params: Callable[[int], tuple[Any, ...]]) -> Callable[[psycopg.Connection[Any], str], None]:
        def run(c: psycopg.Connection[Any], table: str) -> None:
            with c.cursor() as cursor:  # prepared after the first executions, as the store's pooled connections are
                for i in ids:
                    cursor.execute(sql.format(table=table), params(i), prepare=True)
                    cursor.fetchall()

        return run

    def once(sql: str, params: Callable[[], dict[str, Any]]) -> Callable[[psycopg.Connection[Any], str], None]:
        def run(c: psycopg.Connection[Any], table: str) -> None:
            c.execute(sql.format(table=table), params()).fetchall()

        return run

    def add(query: str, unit: str, pair: tuple[float, float], per: int = 1) -> None:
        results.append(Timing(query, unit, pair[0] / per, pair[1] / per))
        console.print(f"  {query}: plain {pair[0] / per * 1000:.3f} ms, partitioned {pair[1] / per * 1000:.3f} ms")

    add(
        "cases by id (1 of 1,000 random)",
        "ms",
        _median_pair(conn, repeats, per_id("SELECT * FROM {table} WHERE id = %s", lambda i: (i,)), cases),
        len(ids),
    )
    add(
        "cases by external id (1 of 1,000)",
        "ms",
        _median_pair(
            conn,
            repeats,
            per_id(
                "SELECT id FROM {table} WHERE flow = %s AND external_id = %s",
                lambda i: ("fraud-check" if i % 4 == 0 else "credit-approval", f"ext-{i}"),
            ),
            cases,
        ),
        len(ids),
    )
    for days in (1, 7):
        window = once(
            "SELECT count(*), avg((fields->>'amount')::float) FROM {table} "
            "WHERE flow = 'credit-approval' AND created_at >= %(since)s AND created_at < %(until)s",
            lambda days=days: {"since": s.end - timedelta(days=days), "until": s.end},
        )
        add(
            f"one flow's cases of the last {days} day{'s' if days > 1 else ''}",
            "ms",
            _median_pair(conn, repeats, window, cases),
        )

    def intake(c: psycopg.Connection[Any], table: str) -> None:
        with c.transaction(force_rollback=True):
            c.execute(
                f"""INSERT INTO {table} SELECT i, 'credit-approval', 'new-' || i, '{{"amount": 1}}', md5(i::text),
                    '{{}}', 'decided', %(now)s, %(now)s, NULL, NULL
                    FROM generate_series(%(low)s::bigint, %(low)s::bigint + 49999) AS i""",
                {"now": s.end, "low": s.rows + 1},
            )

    add("intake: 50,000 new cases in one INSERT", "ms", _median_pair(conn, repeats, intake, cases))
    above = s.rows - SEALED_BEHIND - LATE_WINDOW
    add(
        "sealer: unsealed events at the tail (5,000)",
        "ms",
        _median_pair(
            conn,
            repeats,
            once(
                "SELECT e.* FROM {table} e WHERE e.id > %(above)s AND NOT EXISTS (SELECT 1 FROM audit_seals s "
                "WHERE s.event_id = e.id AND s.event_id > %(above)s) ORDER BY e.id LIMIT 5000",
                lambda: {"above": above},
            ),
            events,
        ),
    )
    spans = iter(seqs * 2)
    add(
        "verify: 5,000 seals joined to their events",
        "ms",
        _median_pair(
            conn,
            repeats,
            once(
                "SELECT s.seq, s.hash, e.* FROM audit_seals s JOIN {table} e ON e.id = s.event_id "
                "WHERE s.seq > %(seq)s ORDER BY s.seq LIMIT 5000",
                lambda: {"seq": next(spans)},
            ),
            events,
        ),
    )
    add(
        "a case's events (1 of 1,000)",
        "ms",
        _median_pair(
            conn,
            repeats,
            per_id("SELECT * FROM {table} WHERE entity = 'case' AND entity_id = %s", lambda i: (str(i),)),
            events,
        ),
        len(ids),
    )
    return results


@dataclass(frozen=True)
class Retention:
    table: str
    rows: int
    size_before: str
    delete: float
    vacuum: float
    size_after: str
    detach_drop: float


def retention(conn: psycopg.Connection[Any], s: Span, plain: str, part: str, column: str) -> Retention:
    """Remove the oldest month: DELETE then VACUUM on the plain table, DETACH + DROP of its partition."""
    oldest, boundary = s.months[0], s.months[1]

    def size(table: str) -> str:
        row = conn.execute("SELECT pg_size_pretty(pg_total_relation_size(%s))", (table,)).fetchone()
        return str(row[0]) if row else "?"

    before = size(plain)
    started = time.perf_counter()
    deleted = conn.execute(f"DELETE FROM {plain} WHERE {column} < %s", (boundary,)).rowcount
    delete = time.perf_counter() - started
    started = time.perf_counter()
    conn.execute(f"VACUUM {plain}")
    vacuum = time.perf_counter() - started
    partition = f"{part}_{oldest.strftime('%Y_%m')}"
    started = time.perf_counter()
    conn.execute(f"ALTER TABLE {part} DETACH PARTITION {partition}")
    conn.execute(f"DROP TABLE {partition}")
    detach_drop = time.perf_counter() - started
    return Retention(plain, deleted, before, delete, vacuum, size(plain), detach_drop)


def report(s: Span, took: dict[str, float], timings: list[Timing], removed: list[Retention], facts: list[str]) -> None:
    console.print(
        f"\n{s.rows:,} cases and {s.rows:,} audit events over {len(s.months) - 1} monthly partitions "
        f"({s.start:%Y-%m-%d} to {s.end:%Y-%m-%d}), {s.rows // (len(s.months) - 1):,} rows a month"
    )
    table = Table(title="The store's hot queries: plain table against partitioned by month (median)")
    for column in ("query", "plain", "partitioned", "partitioned / plain"):
        table.add_column(column, justify="left" if column == "query" else "right")
    for t in timings:
        table.add_row(t.query, f"{t.plain * 1000:.3f} ms", f"{t.partitioned * 1000:.3f} ms", f"{t.ratio:.2f}")
    console.print(table)
    kept = Table(title="Retention: the oldest month removed")
    for column in (
        "table",
        "rows",
        "size before",
        "DELETE",
        "VACUUM",
        "size after",
        "DETACH + DROP",
        "(DELETE + VACUUM) / DROP",
    ):
        kept.add_column(column, justify="left" if column == "table" else "right")
    for r in removed:
        kept.add_row(
            r.table,
            f"{r.rows:,}",
            r.size_before,
            f"{r.delete:.2f} s",
            f"{r.vacuum:.2f} s",
            r.size_after,
            f"{r.detach_drop * 1000:.1f} ms",
            f"{(r.delete + r.vacuum) / r.detach_drop:,.0f}",
        )
    console.print(kept)
    console.print("Load: " + ", ".join(f"{k} {v:.1f} s" for k, v in took.items()))
    for fact in facts:
        console.print(fact)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="cases, and audit events, generated")
    parser.add_argument("--months", type=int, default=20, help="months the rows are spread over (partitions)")
    parser.add_argument("--repeats", type=int, default=7, help="timings of each query on each table (median)")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES, help="a server to create the scratch database on")
    args = parser.parse_args()
    load_before = load_average()
    s = span(args.rows, args.months)
    with (
        postgres_database(args.postgres_url, "_partitioning") as url,
        psycopg.connect(url, autocommit=True) as conn,
    ):
        conn.execute("SET maintenance_work_mem = '256MB'")
        create_tables(conn, s)
        took = generate(conn, s, lambda line: console.print(f"  {line}"))
        console.print("Measuring")
        timings = measure(conn, s, args.repeats)
        removed = [
            retention(conn, s, "cases_plain", "cases_part", "created_at"),
            retention(conn, s, "audit_plain", "audit_part", "at"),
        ]
    report(s, took, timings, removed, machine_facts(args.postgres_url, load_before))


if __name__ == "__main__":
    main()
