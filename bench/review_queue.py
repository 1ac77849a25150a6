"""Review queue: claim + submit cycles/s, next-task latency against queue depth, and a peer queue in the same run.

Four measurements, on SQLite (a file in a temporary folder) and on PostgreSQL (a database of its own, dropped at
the end):

1. Cycles/s. N tasks are queued (one case each: ``decisions`` is keyed by case), then W threads loop
   ``review.claim`` then ``review.submit`` until the queue is empty. Targets: >= 2,000/s SQLite, >= 1,000/s
   PostgreSQL.
   "CPU ms/cycle" is the CPU time of the reviewers' processes per cycle (SQLite's engine runs inside them);
   "server CPU ms/cycle" that of the PostgreSQL backends that served them (read from /proc, so only when the
   server runs on this machine, and only for a single process, whose pool keeps its connections to the end).
   "claim ms" is how long each ``review.claim`` took under that load (p50 / p99 / the slowest): on SQLite mostly
   waiting for the one write lock, so how evenly writers take turns shows in the slowest.
2. Next-task latency. With 10k, 100k (and 1M) tasks queued, single ``review.claim`` calls are timed, each followed
   by an untimed ``review.release`` so the depth stays the same; p50/p95 in ms, and how p95 grows from the
   smallest depth to the largest. Targets: p95 < 50 ms at 1M, growth <= 2x. Timed twice: as ``claim(db, user)``
   (what the API does when the body names no flow) and as ``claim(db, user, flow=..., queue=...)``. Every task has
   a case of its own (a case holds 1-3 tasks in practice, and the claim looks at the case's other tasks). At the
   deepest queue, claims are also timed for a reviewer with ``--history`` past reviews (default 100k): the claim
   passes over cases the reviewer already answered, so its cost may follow the reviewer's history as well.
3. A peer queue library, procrastinate, doing its own claim + complete on the same PostgreSQL server in the same
   run, with the same N jobs and the same number of concurrent workers; jobs/s and the Signoff/peer ratio.
4. Bounds: the same statements with no Signoff code around them, on N tasks of their own; cycles/s and the ratio.
   On SQLite, the floor: one thread running the statements of each cycle (the same named queries, schema and
   indexes) on a bare sqlite3 connection. What Signoff adds over it is its own Python: the checks, SQLAlchemy's
   transactions, and with several threads the GIL handed over at each driver call. On PostgreSQL, in-database:
   the same statements inside two PL/pgSQL functions, one call per claim and one per submit (autocommit), from W
   threads on bare psycopg connections: no Python and no round trip between statements, what moving the cycle into
   the database could at best reach (it judges no workload, gold or rotation rule).
   On SQLite, Signoff's runs and the floor alike checkpoint the log as the server does (``Database.checkpoint`` in a
   background thread).

What one cycle does on each side (so the ratio compares like with like only as far as stated):

- Signoff (a queue without consensus: one review decides the case): claim = one write transaction: the
  ``reviewer_profile`` read (the database clock, skills, leases held, pauses), the named ``claim_task`` UPDATE (FOR
  UPDATE SKIP LOCKED on PostgreSQL, BEGIN IMMEDIATE on SQLite) that bumps the fencing token and sets the lease, an
  INSERT of the lease history row (and an UPDATE closing an older expired lease, when there is one), an INSERT of
  the ``task.claimed`` audit event. submit = one write transaction: the fenced ``complete_task`` UPDATE (token,
  owner and expiry checked by the database) returning the task, the lease row's UPDATE, INSERT of the review row,
  INSERT of the decision row, UPDATE of the case, INSERT of 2 audit events (``review.submitted``,
  ``case.decided``). So 2 transactions, 10 statements and 3 audit rows per cycle, each statement a named query on
  the driver's cursor inside a SQLAlchemy transaction, from W OS threads in P processes (``--processes``; the GIL,
  SQLite's single writer and the database server share the machine's cores).
- procrastinate (its ``JobManager.fetch_job`` / ``finish_job``, as its worker does, without running a task body):
  fetch = one autocommit call of ``procrastinate_fetch_job_v2`` (UPDATE ... FOR UPDATE SKIP LOCKED to 'doing';
  a trigger inserts a 'started' row in ``procrastinate_events``); finish = one autocommit call of
  ``procrastinate_finish_job_v1`` (UPDATE to 'succeeded'; the trigger inserts a 'succeeded' event row). So 2
  transactions, 2 statements (plus 2 trigger inserts) per cycle, from W coroutines on one asyncio loop over a
  psycopg async pool. No fencing token, no lease history, no domain rows, no audit trail.

Run: ``.venv/bin/python bench/review_queue.py`` (about 10 minutes), ``--quick`` for a fast look. PostgreSQL comes
from ``--postgres-url`` (default $SIGNOFF_BENCH_POSTGRES_URL or postgresql://postgres@127.0.0.1:5432/test); the
bench creates and drops its own ``signoff_bench_<random>`` databases there. It prints numbers and verdicts; it
asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import multiprocessing
import os
import platform
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.engine import make_url

from signoff import review, users
from signoff.config import Project, parse_project
from signoff.domain import Role, User
from signoff.store import migrate
from signoff.store import tasks as task_store
from signoff.store.database import Database

FLOW = "bench"
QUEUE = "default"
LABEL = "good"
TARGET_CYCLES = {"sqlite": 2_000.0, "postgresql": 1_000.0}
TARGET_P95_MS = 50.0
TARGET_GROWTH = 2.0
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"

console = Console() if sys.stdout.isatty() else Console(width=180)


def constant(frame: pd.DataFrame) -> np.ndarray:
    """The flow's model (entry point ``review_queue:constant``): P = 0.5 for both labels, inside the review band."""
    return np.full((len(frame), 2), 0.5)


# ---------------------------------------------------------------------------------------------------------------
# Setup: project, databases, bulk rows


def project_document(url: str) -> dict[str, Any]:
    """The project file's content: one flow, ``bench``, whose model is ``constant``."""
    return {
        "database_url": url,
        "flows": {
            FLOW: {
                "labels": ["good", "bad"],
                "fields": {
                    "score": {"type": "number", "min": 0, "max": 1},
                    "group": {"type": "category", "values": ["a", "b"]},
                },
                "groups": ["group"],
                "model": {"kind": "python", "entry_point": "review_queue:constant", "version": "1"},
                "policy": [
                    {"name": "uncertain", "kind": "band", "label": "bad", "low": 0.3, "high": 0.7, "review": "inside"}
                ],
                "queues": {QUEUE: {"role": "reviewer", "lease_ttl": 300}},
            }
        },
    }


def make_project(folder: Path, url: str) -> Project:
    return parse_project(project_document(url), folder / "signoff.yaml")


def _admin(base_url: str) -> psycopg.Connection[Any]:
    url = make_url(base_url)
    return psycopg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname=url.database,
        autocommit=True,
        connect_timeout=5,
    )


@contextmanager
def postgres_database(base_url: str, suffix: str = "") -> Iterator[str]:
    """A fresh ``signoff_bench_<random>`` database on the server of ``base_url``, dropped afterwards."""
    name = f"signoff_bench_{secrets.token_hex(4)}{suffix}"
    with _admin(base_url) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with _admin(base_url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def database(backend: str, folder: Path, postgres_url: str, name: str) -> Iterator[str]:
    """The URL of an empty database of ``backend``: the SQLite file ``folder/<name>.db``, or a fresh PostgreSQL
    database ``signoff_bench_<random>_<name>``, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / name}.db"
        return
    with postgres_database(postgres_url, f"_{name}") as url:
        yield url


@contextmanager
def signoff_database(backend: str, postgres_url: str) -> Iterator[tuple[Database, Project]]:
    """A migrated, empty Signoff database of the given backend and a project whose flow is ``bench``."""
    with (
        tempfile.TemporaryDirectory(prefix="signoff-bench-") as folder,
        database(backend, Path(folder), postgres_url, "bench") as url,
        served(url) as db,
    ):
        migrate.upgrade(db)
        yield db, make_project(Path(folder), url)


@contextmanager
def served(url: str, pool_size: int = 20) -> Iterator[Database]:
    """The database as ``signoff serve`` runs it: on SQLite, checkpoints in a background thread (``create_app``)."""
    db = Database(url, pool_size=pool_size, background_checkpoints=True)
    checkpoints = db.checkpointer()
    if checkpoints is not None:
        checkpoints.start()
    try:
        yield db
    finally:
        if checkpoints is not None:
            checkpoints.stop()
        db.dispose()


def _now_sql(db: Database) -> str:
    # SQLite keeps times as text in SQLAlchemy's format, which the named queries also write and compare.
    return "strftime('%Y-%m-%d %H:%M:%f000', 'now')" if db.dialect == "sqlite" else "now()"


def _series(db: Database) -> tuple[str, str]:
    """(prefix, source) that yield :n rows, one per integer, on either database."""
    if db.dialect == "sqlite":
        return "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < :n) ", "seq"
    return "", "generate_series(1, :n)"


def _insert_cases(db: Database, conn: Any, n: int) -> tuple[int, int]:
    """N minimal cases awaiting review (no prediction or route: review does not read them); (first id, last id)."""
    prefix, source = _series(db)
    empty = "'{}'" if db.dialect == "sqlite" else "CAST('{}' AS jsonb)"
    before = conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM cases")).scalar_one()
    conn.execute(
        text(
            "INSERT INTO cases (flow, external_id, fields, payload_hash, groups, status, created_at) "
            f"{prefix}SELECT :flow, NULL, {empty}, 'x', {empty}, 'in_review', {_now_sql(db)} FROM {source}"
        ),
        {"n": n, "flow": FLOW},
    )
    after = conn.execute(text("SELECT MAX(id) FROM cases")).scalar_one()
    return int(before) + 1, int(after)


# Explicit columns: a nullable column added later takes its default.
TASK_COLUMNS = "case_id, flow, queue, role, priority, status, lease_token, lease_ttl, created_at, kind"


def queue_tasks(db: Database, n: int, chunk: int = 100_000) -> Iterator[int]:
    """N queued review tasks, each on a case of its own; yields how many were added, chunk by chunk.

    One case per task, not N tasks on one case: the decision row is keyed by case, and the claim passes over
    cases on which the reviewer already holds another task, which it checks through the case's tasks.
    """
    done = 0
    while done < n:
        size = min(chunk, n - done)
        with db.transaction() as conn:
            first, last = _insert_cases(db, conn, size)
            conn.execute(
                text(
                    f"INSERT INTO tasks ({TASK_COLUMNS}) "
                    f"SELECT id, :flow, :queue, 'reviewer', 0, 'queued', 0, 300, {_now_sql(db)}, 'review' "
                    "FROM cases WHERE id BETWEEN :first AND :last ORDER BY id"
                ),
                {"flow": FLOW, "queue": QUEUE, "first": first, "last": last},
            )
        done += size
        yield size


def analyze(db: Database) -> None:
    """PostgreSQL statistics, as autovacuum would soon gather after a bulk load. SQLite is left as Signoff leaves
    it (Signoff never runs ANALYZE there)."""
    if db.dialect == "postgresql":
        with db.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")


def reviewers(db: Database, count: int, prefix: str = "bench-reviewer") -> list[User]:
    return [users.create_user(db, f"{prefix}-{i}", Role.REVIEWER, "bench")[0] for i in range(count)]


def add_history(db: Database, user: User, n: int, chunk: int = 100_000) -> Iterator[int]:
    """N past reviews by ``user``: each a case, a done task and a review row (the queue depth does not change)."""
    done = 0
    while done < n:
        size = min(chunk, n - done)
        now = _now_sql(db)
        with db.transaction() as conn:
            first, last = _insert_cases(db, conn, size)
            conn.execute(
                text(
                    f"INSERT INTO tasks ({TASK_COLUMNS}, lease_owner, completed_at) "
                    f"SELECT id, :flow, :queue, 'reviewer', 0, 'done', 1, 300, {now}, 'review', :user, {now} "
                    "FROM cases WHERE id BETWEEN :first AND :last ORDER BY id"
                ),
                {"flow": FLOW, "queue": QUEUE, "first": first, "last": last, "user": user.id},
            )
            conn.execute(
                text(
                    "INSERT INTO reviews (task_id, case_id, reviewer_id, lease_token, label, comment, created_at) "
                    f"SELECT id, case_id, :user, 1, :label, '', {now} FROM tasks "
                    "WHERE case_id BETWEEN :first AND :last AND status = 'done'"
                ),
                {"first": first, "last": last, "user": user.id, "label": LABEL},
            )
        done += size
        yield size


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


# ---------------------------------------------------------------------------------------------------------------
# 1. Claim + submit cycles


@dataclass
class CycleResult:
    backend: str
    tasks: int
    workers: int
    seconds: float
    cycles: int
    cpu: float  # the reviewers' processes' CPU seconds (all threads; SQLite's engine runs in-process too)
    errors: list[str] = field(default_factory=list)
    check: str = ""
    processes: int = 1
    server_cpu: float | None = None  # PostgreSQL backends' CPU seconds over the run, when measurable
    claims: list[float] = field(default_factory=list)  # seconds each review.claim took, under the run's load

    @property
    def rate(self) -> float:
        return self.cycles / self.seconds if self.seconds else 0.0


def backend_cpu(db: Database) -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL backend serving this database (other than the asking one), read
    from /proc: empty unless the server runs on this machine and this user may read its processes."""
    if db.dialect != "postgresql":
        return {}
    with db.transaction(write=False) as conn:
        pids = conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        ).scalars()
        used = {}
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
            except OSError:
                return {}
            used[int(pid)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return used


def _drain(
    db: Database, project: Project, team: list[User], started: Callable[[], None]
) -> tuple[list[int], list[str], list[float]]:
    """Each reviewer of ``team`` in a thread of this process: claim + submit until the queue is empty. Returns each
    reviewer's cycles, the errors, and how long each claim took (seconds)."""
    counts = [0] * len(team)
    errors: list[str] = []
    claims: list[float] = []
    start_line = threading.Barrier(len(team) + 1)

    def work(index: int, user: User) -> None:
        start_line.wait()
        try:
            while True:
                asked = time.perf_counter()
                got = review.claim(db, project, user)
                claims.append(time.perf_counter() - asked)
                if got is None:
                    return
                review.submit(db, project, user, got.task_id, got.token, LABEL)
                counts[index] += 1
        except Exception as error:  # noqa: BLE001  # reported in the results; the other workers go on
            errors.append(f"{type(error).__name__}: {error}"[:300])

    threads = [threading.Thread(target=work, args=(i, u), daemon=True) for i, u in enumerate(team)]
    for thread in threads:
        thread.start()
    start_line.wait()
    started()
    for thread in threads:
        thread.join()
    return counts, errors, claims


def _reviewer_process(url: str, team: list[User], ready: Any, go: Any, results: Any) -> None:
    """One of several reviewer processes (as ``signoff serve --workers N`` runs): its own engine and threads."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    with served(url, pool_size=len(team) + 2) as db, tempfile.TemporaryDirectory(prefix="signoff-bench-") as folder:
        project = make_project(Path(folder), url)
        gc.collect()  # see run_cycles
        ready.release()
        go.wait()
        cpu = time.process_time()
        counts, errors, claims = _drain(db, project, team, lambda: None)
        results.put((sum(counts), time.process_time() - cpu, errors, claims))


def run_cycles(db: Database, project: Project, n: int, workers: int, processes: int = 1) -> CycleResult:
    with progress_bar() as bar:
        setup = bar.add_task(f"{db.dialect}: queueing {n:,} tasks", total=n)
        for added in queue_tasks(db, n):
            bar.advance(setup, added)
    analyze(db)
    team = reviewers(db, workers)
    errors: list[str] = []
    label = f"{db.dialect}: claim + submit, {workers} workers" + (f" in {processes} processes" if processes > 1 else "")
    server_cpu = None
    # The setup's garbage (migrations, bulk inserts) is collected before the timed run, not in it: a full collection
    # costs 0.1-0.2 s here, and whether one fell due inside the run depended on how much the setup had allocated.
    gc.collect()
    if processes == 1:
        clock: list[float] = []
        before = backend_cpu(db)
        cpu = time.process_time()
        counts, errors, claims = _drain(db, project, team, lambda: clock.append(time.perf_counter()))
        took, cpu, cycles = time.perf_counter() - clock[0], time.process_time() - cpu, sum(counts)
        after = backend_cpu(db)  # the pool keeps the workers' connections, so their backends are still there
        if after:
            server_cpu = sum(used - before.get(pid, 0.0) for pid, used in after.items())
    else:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no engine or lock shared by fork
        ready, go, results = context.Semaphore(0), context.Event(), context.Queue()
        groups = [team[i::processes] for i in range(processes)]
        children = [
            context.Process(target=_reviewer_process, args=(db.url, group, ready, go, results)) for group in groups
        ]
        for child in children:
            child.start()
        for _ in children:
            ready.acquire()
        with progress_bar() as bar:
            bar.add_task(label, total=None)
            started = time.perf_counter()
            go.set()
            reported = [results.get() for _ in children]
            took = time.perf_counter() - started
        for child in children:
            child.join()
        cycles, cpu = sum(r[0] for r in reported), sum(r[1] for r in reported)
        errors = [e for r in reported for e in r[2]]
        claims = [w for r in reported for w in r[3]]
    with db.transaction(write=False) as conn:
        open_tasks = conn.execute(text("SELECT COUNT(*) FROM tasks WHERE status <> 'done'")).scalar_one()
        decisions = conn.execute(text("SELECT COUNT(*) FROM decisions")).scalar_one()
        events = conn.execute(
            text(
                "SELECT COUNT(*) FROM audit_events WHERE action IN ('task.claimed', 'review.submitted', 'case.decided')"
            )
        ).scalar_one()
    check = f"{open_tasks} open, {decisions:,} decisions, {events:,} audit events"
    return CycleResult(db.dialect, n, workers, took, cycles, cpu, errors, check, processes, server_cpu, claims)


# ---------------------------------------------------------------------------------------------------------------
# 2. Next-task latency against depth


@dataclass
class Latency:
    backend: str
    depth: int
    variant: str
    samples: list[float]

    def pct(self, q: float) -> float:
        return float(np.percentile(np.array(self.samples) * 1000, q))


def time_claims(db: Database, project: Project, user: User, count: int, budget: float, **where: str) -> list[float]:
    """Time ``count`` claims (each released, untimed), or fewer if ``budget`` seconds run out (at least 20)."""
    for _ in range(3):  # warm the pool, the statement cache and the plan cache
        got = review.claim(db, project, user, **where)
        assert got is not None, "the queue is empty"
        review.release(db, user, got.task_id, got.token)
    samples: list[float] = []
    deadline = time.perf_counter() + budget
    for _ in range(count):
        started = time.perf_counter()
        got = review.claim(db, project, user, **where)
        samples.append(time.perf_counter() - started)
        assert got is not None, "the queue is empty"
        review.release(db, user, got.task_id, got.token)
        if len(samples) >= 20 and time.perf_counter() > deadline:
            break
    return samples


def claim_plan(db: Database, user: User, **where: str | None) -> list[str]:
    """The database's plan for the named ``claim_task`` query, run and rolled back (PostgreSQL) or not run
    (SQLite)."""
    name, params = task_store.claim_query(db, reviewer=user.id, reviewer_name=user.name, roles=["reviewer"], **where)
    query = db.queries[name]
    with db.engine.connect() as conn:
        transaction = conn.begin()
        try:
            if db.dialect == "postgresql":
                rows = conn.execute(text(f"EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) {query}"), params)
                return [row[0] for row in rows]
            rows = conn.execute(text(f"EXPLAIN QUERY PLAN {query}"), params)
            return [f"{'  ' * int(row[1] > 0)}{row[3]}" for row in rows]
        finally:
            transaction.rollback()


def run_latency(
    db: Database, project: Project, sizes: list[int], claims: int, budget: float, history: int
) -> tuple[list[Latency], dict[str, list[str]]]:
    (user,) = reviewers(db, 1)
    results: list[Latency] = []
    depth = 0
    for size in sorted(sizes):
        with progress_bar() as bar:
            shown = bar.add_task(f"{db.dialect}: queueing up to {size:,} tasks", total=size - depth)
            for added in queue_tasks(db, size - depth):
                bar.advance(shown, added)
        depth = size
        analyze(db)
        with console.status(f"{db.dialect}: timing claims at depth {size:,}"):
            results.append(Latency(db.dialect, size, "any flow", time_claims(db, project, user, claims, budget)))
            timed = time_claims(db, project, user, claims, budget, flow=FLOW, queue=QUEUE)
            results.append(Latency(db.dialect, size, "flow+queue", timed))
    plans = {
        f"{db.dialect} at {depth:,}, any flow": claim_plan(db, user),
        f"{db.dialect} at {depth:,}, flow+queue": claim_plan(db, user, flow=FLOW, queue=QUEUE),
    }
    if history:
        # The claim passes over cases the reviewer already answered, so its cost may follow the reviewer's own
        # history too: time a reviewer with ``history`` past reviews at the deepest queue.
        (veteran,) = reviewers(db, 1, prefix="bench-veteran")
        with progress_bar() as bar:
            shown = bar.add_task(f"{db.dialect}: {history:,} past reviews for one reviewer", total=history)
            for added in add_history(db, veteran, history):
                bar.advance(shown, added)
        analyze(db)
        variant = f"any flow, reviewer with {history:,} reviews"
        with console.status(f"{db.dialect}: timing claims by a reviewer with {history:,} reviews"):
            results.append(Latency(db.dialect, depth, variant, time_claims(db, project, veteran, claims, budget)))
        plans[f"{db.dialect} at {depth:,}, {variant}"] = claim_plan(db, veteran)
    return results, plans


# ---------------------------------------------------------------------------------------------------------------
# 3. The peer: procrastinate on the same PostgreSQL server


@dataclass
class PeerResult:
    library: str
    jobs: int
    workers: int
    seconds: float
    done: int
    cpu: float
    check: str = ""

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0


async def _procrastinate(url: str, n: int, workers: int) -> PeerResult:
    import procrastinate
    from procrastinate.jobs import Status

    logging.getLogger("procrastinate").setLevel(logging.ERROR)  # it warns that the App lives in __main__
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo, min_size=workers))

    @app.task(name="bench", queue=QUEUE)
    def bench_task() -> None:  # never run: the bench drives fetch/finish itself
        return None

    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        with progress_bar() as bar:
            shown = bar.add_task(f"procrastinate: deferring {n:,} jobs", total=n)
            for start in range(0, n, 5000):
                size = min(5000, n - start)
                await bench_task.batch_defer_async(*({} for _ in range(size)))
                bar.advance(shown, size)
        manager = app.job_manager
        worker_ids = [await manager.register_worker() for _ in range(workers)]
        counts = [0] * workers

        async def work(index: int) -> None:
            while True:
                job = await manager.fetch_job(queues=None, worker_id=worker_ids[index])
                if job is None:
                    return
                await manager.finish_job(job, Status.SUCCEEDED, delete_job=False)
                counts[index] += 1

        with progress_bar() as bar:
            shown = bar.add_task(f"procrastinate: fetch + finish, {workers} workers", total=n)
            started, cpu = time.perf_counter(), time.process_time()
            running = asyncio.gather(*(work(i) for i in range(workers)))
            while not running.done():
                bar.update(shown, completed=sum(counts))
                await asyncio.wait([running], timeout=0.2)
            took, cpu = time.perf_counter() - started, time.process_time() - cpu
            await running
        for worker_id in worker_ids:
            await manager.unregister_worker(worker_id)
        left = await app.connector.execute_query_one_async(
            "SELECT COUNT(*) AS n FROM procrastinate_jobs WHERE status <> 'succeeded'"
        )
    library = f"procrastinate {metadata.version('procrastinate')}"
    return PeerResult(library, n, workers, took, sum(counts), cpu, f"{left['n']} jobs left")


def run_peer(postgres_url: str, n: int, workers: int) -> PeerResult:
    with postgres_database(postgres_url, "_peer") as url:
        return asyncio.run(_procrastinate(url, n, workers))


# The PostgreSQL bound: a cycle's statements run inside the database, two calls per cycle

# The type of each named query parameter, for the functions' variables (text unless named here).
_PARAMETER_TYPES = {
    **dict.fromkeys(("reviewer", "task_id", "case_id", "reviewer_id", "model_version_id", "review_id"), "bigint"),
    **dict.fromkeys(("token", "lease_token"), "int"),
    **dict.fromkeys(("now", "expires_at", "at", "created_at"), "timestamptz"),
    **dict.fromkeys(("roles", "refused", "blocked"), "text[]"),
}


def _plpgsql(name: str, arguments: str, returns: str, steps: list[str]) -> str:
    """A PL/pgSQL function running ``steps``: named query texts with ``:x`` as the variable ``v_x`` (declared here),
    assignments and control statements in between. The records ``profile`` and ``found_row`` hold the rows read
    (named so that no alias in the queries shadows them)."""
    body = "\n".join(steps)
    used = sorted(set(re.findall(r"(?<![:\w]):(\w+)", body)) - {a.split()[0][2:] for a in arguments.split(", ")})
    declared = "".join(f"  v_{v} {_PARAMETER_TYPES.get(v, 'text')};\n" for v in used)
    body = re.sub(r"(?<![:\w]):(\w+)", r"v_\1", body)
    return (
        f"CREATE FUNCTION {name}({arguments}) RETURNS {returns} LANGUAGE plpgsql AS $$\n"
        f"DECLARE\n{declared}  profile record;\n  found_row record;\nBEGIN\n{body}\nEND $$"
    )


def in_database_functions(db: Database) -> list[str]:
    """``bench_claim`` and ``bench_submit``: Signoff's named queries for a cycle (the statements ``review.claim`` and
    ``review.submit`` run, in their order, with the same three audit rows), each step one function call."""
    q = db.queries
    claim = _plpgsql(
        "bench_claim",
        "v_reviewer bigint, v_reviewer_name text, v_roles text[], v_refused text[], v_blocked text[]",
        "TABLE (claimed_task bigint, claimed_token int)",
        [
            f"{q['reviewer_profile']} INTO profile;",
            f"{q['claim_any']} INTO found_row;",
            "IF found_row.task_id IS NULL THEN RETURN; END IF;",
            "v_task_id := found_row.task_id; v_token := found_row.token; v_now := found_row.now;",
            "v_expires_at := found_row.expires_at;",
            f"{q['start_lease']};",
            "v_at := found_row.now; v_actor := v_reviewer_name; v_action := 'task.claimed'; v_entity := 'task';",
            "v_entity_id := found_row.task_id::text;",
            "v_data := json_build_object('case_id', found_row.case_id, 'token', found_row.token, "
            "'expires_at', found_row.expires_at);",
            f"{q['append_event']};",
            "claimed_task := found_row.task_id; claimed_token := found_row.token; RETURN NEXT;",
        ],
    )
    submit = _plpgsql(
        "bench_submit",
        "v_task_id bigint, v_token int, v_reviewer bigint, v_actor text, v_label text",
        "bigint",
        [
            f"{q['complete_task']} INTO found_row;",
            "IF found_row.id IS NULL THEN RETURN NULL; END IF;",
            "v_now := found_row.completed_at; v_reason := 'submitted';",
            f"{q['end_lease']};",
            "v_case_id := found_row.case_id; v_reviewer_id := v_reviewer; v_lease_token := v_token; v_comment := '';",
            "v_created_at := found_row.completed_at;",
            f"{q['insert_review']} INTO v_review_id;",
            "v_decided_by := 'reviewer';",
            f"{q['insert_decision']};",
            f"{q['mark_decided']};",
            "v_at := found_row.completed_at; v_action := 'review.submitted'; v_entity := 'task';",
            "v_entity_id := v_task_id::text;",
            "v_data := json_build_object('case_id', found_row.case_id, 'token', v_token, 'review_id', v_review_id, "
            "'label', v_label, 'comment', '');",
            f"{q['append_event']};",
            "v_action := 'case.decided'; v_entity := 'case'; v_entity_id := found_row.case_id::text;",
            "v_data := json_build_object('label', v_label, 'decided_by', 'reviewer', 'task_id', v_task_id, "
            "'queue', found_row.queue, 'review_id', v_review_id, 'model_version_id', NULL, "
            "'escalation_exhausted', false);",
            f"{q['append_event']};",
            "RETURN v_review_id;",
        ],
    )
    return [claim, submit]


def run_in_database(postgres_url: str, n: int, workers: int) -> PeerResult:
    """The in-database bound for PostgreSQL: a cycle's statements (the same named queries, schema and indexes, 3
    audit rows) in two PL/pgSQL functions, each called in autocommit from W threads on bare psycopg connections: one
    round trip per claim and per submit, no Python between statements. Not Signoff's code: what moving the cycle into
    the database could at best reach here (the reviewer profile is read, not judged; no workload or gold checks)."""
    with signoff_database("postgresql", postgres_url) as (db, _project):
        for _ in queue_tasks(db, n):
            pass
        analyze(db)
        team = reviewers(db, workers)
        conninfo = make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(conninfo, autocommit=True) as admin:
            for function in in_database_functions(db):
                admin.execute(function)
        counts = [0] * workers
        errors: list[str] = []

        def work(index: int, user: User) -> None:
            try:
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    while True:
                        row = conn.execute(
                            "SELECT * FROM bench_claim(%s, %s, %s, %s, %s)", [user.id, user.name, ["reviewer"], [], []]
                        ).fetchone()
                        if row is None:
                            return
                        call = "SELECT bench_submit(%s, %s, %s, %s, %s)"
                        conn.execute(call, [row[0], row[1], user.id, user.name, LABEL])
                        counts[index] += 1
            except psycopg.Error as error:  # a floor that stopped must say why, not report a rate of 0
                errors.append(f"{type(error).__name__}: {error}"[:300])

        threads = [threading.Thread(target=work, args=(i, u), daemon=True) for i, u in enumerate(team)]
        with progress_bar() as bar:
            bar.add_task(f"postgresql: the cycle in two function calls, {workers} threads", total=None)
            started, cpu = time.perf_counter(), time.process_time()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            took, cpu = time.perf_counter() - started, time.process_time() - cpu
        with db.transaction(write=False) as conn:
            left = conn.execute(text("SELECT COUNT(*) FROM tasks WHERE status <> 'done'")).scalar_one()
            events = conn.execute(text("SELECT COUNT(*) FROM audit_events")).scalar_one()
    check = f"{left} tasks left, {events:,} audit events"
    if errors:
        check += f"; {len(errors)} worker errors: {errors[0]}"
    return PeerResult(f"PL/pgSQL, {workers} threads", n, workers, took, sum(counts), cpu, check)


# ---------------------------------------------------------------------------------------------------------------
# Report


def run_bare_sqlite(postgres_url: str, n: int) -> PeerResult:
    """The floor for SQLite: one thread running a cycle's statements (the same named queries, the same schema and
    indexes, 3 audit rows) on a bare sqlite3 connection, with none of Signoff's code around them."""
    with signoff_database("sqlite", postgres_url) as (db, _project):
        for _ in queue_tasks(db, n):
            pass
        (user,) = reviewers(db, 1)
        q = db.queries
        bare = sqlite3.connect(make_url(db.url).database or "", isolation_level=None)
        bare.row_factory = sqlite3.Row  # the statements return whole rows: read their columns by name
        # Checkpoints as Signoff's: the background thread of signoff_database's, none in the commits.
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "wal_autocheckpoint=0"):
            bare.execute(f"PRAGMA {pragma}")
        me = {
            "reviewer": user.id,
            "reviewer_name": user.name,
            "roles": '["reviewer"]',
            "refused": "[]",
            "blocked": "[]",
        }

        def event(at: str, action: str, entity: str, entity_id: int, data: dict[str, Any]) -> tuple[Any, ...]:
            return (at, user.name, action, entity, str(entity_id), json.dumps(data))

        insert_event = "INSERT INTO audit_events (at, actor, action, entity, entity_id, data) VALUES (?, ?, ?, ?, ?, ?)"
        done = 0
        started, cpu = time.perf_counter(), time.process_time()
        while True:
            bare.execute("BEGIN IMMEDIATE")
            bare.execute(q["reviewer_profile"], me).fetchall()
            row = bare.execute(q["claim_any"], {**me, "flow": None, "queue": None}).fetchone()
            if row is None:
                bare.execute("COMMIT")
                break
            task, case, token = row["task_id"], row["case_id"], row["token"]
            expires, now = row["expires_at"], row["now"]
            bare.execute(q["start_lease"], {**me, "task_id": task, "token": token, "now": now, "expires_at": expires})
            claimed = {"case_id": case, "token": token, "expires_at": expires}
            bare.execute(insert_event, event(now, "task.claimed", "task", task, claimed))
            bare.execute("COMMIT")
            bare.execute("BEGIN IMMEDIATE")
            completed = bare.execute(q["complete_task"], {**me, "task_id": task, "token": token}).fetchone()
            now, queue = completed["completed_at"], completed["queue"]  # RETURNING the whole task
            bare.execute(q["end_lease"], {"task_id": task, "token": token, "now": now, "reason": "submitted"})
            (review_id,) = bare.execute(
                q["insert_review"],
                {
                    "task_id": task,
                    "case_id": case,
                    "reviewer_id": user.id,
                    "lease_token": token,
                    "label": LABEL,
                    "comment": "",
                    "created_at": now,
                },
            ).fetchone()
            decision = {"case_id": case, "label": LABEL, "decided_by": "reviewer", "review_id": review_id}
            bare.execute(q["insert_decision"], {**decision, "model_version_id": None, "now": now})
            bare.execute(q["mark_decided"], {"case_id": case, "now": now})
            submitted = {"case_id": case, "token": token, "review_id": review_id, "label": LABEL, "comment": ""}
            decided = {
                "label": LABEL,
                "decided_by": "reviewer",
                "task_id": task,
                "queue": queue,
                "review_id": review_id,
                "model_version_id": None,
                "escalation_exhausted": False,
            }
            bare.executemany(
                insert_event,
                [
                    event(now, "review.submitted", "task", task, submitted),
                    event(now, "case.decided", "case", case, decided),
                ],
            )
            bare.execute("COMMIT")
            done += 1
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
        left = bare.execute("SELECT COUNT(*) FROM tasks WHERE status <> 'done'").fetchone()[0]
        bare.close()
    return PeerResult("bare sqlite3, 1 thread", n, 1, took, done, cpu, f"{left} tasks left")


def _git(*args: str) -> str | None:
    """What git says about the checkout this bench runs from (None without git)."""
    git = shutil.which("git")
    if git is None:
        return None
    with suppress(OSError, subprocess.SubprocessError):
        here = Path(__file__).resolve().parent
        done = subprocess.run([git, *args], cwd=here, capture_output=True, text=True, check=True)  # noqa: S603  # fixed args
        return done.stdout.strip()
    return None


def load_average() -> str:
    with suppress(OSError, AttributeError):
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    return "?"


def machine_facts(postgres_url: str | None, load_before: str) -> list[str]:
    cpu = platform.processor() or platform.machine()
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text(encoding="utf-8").split()[1])
        memory = f", {kib / 2**20:.0f} GiB RAM"
    facts = [
        f"machine: {cpu}, {os.cpu_count()} cores{memory}; {platform.system()} {platform.release()}; "
        f"load average (1/5/15 min) {load_before} before, {load_average()} after: anything else running on the "
        "machine (a test suite, another bench) shows in these numbers",
        f"Python {platform.python_version()}, SQLAlchemy {metadata.version('sqlalchemy')}, "
        f"psycopg {metadata.version('psycopg')}, SQLite {sqlite3.sqlite_version} "
        f"(WAL, synchronous={os.environ.get('SIGNOFF_SQLITE_SYNCHRONOUS', 'NORMAL').upper()})",
    ]
    head, dirty = _git("rev-parse", "--short", "HEAD"), _git("status", "--porcelain", ":/src")
    if head is not None:
        facts.append(f"Signoff at {head} ({'with uncommitted changes in src/' if dirty else 'clean src/'})")
    if postgres_url:
        with _admin(postgres_url) as admin:
            version = admin.execute("SHOW server_version").fetchone()
            settings = {
                name: admin.execute(f"SHOW {name}").fetchone()
                for name in ("shared_buffers", "synchronous_commit", "fsync", "work_mem", "max_connections")
            }
        shown = ", ".join(f"{k}={v[0] if v else '?'}" for k, v in settings.items())
        facts.append(f"PostgreSQL {version[0] if version else '?'} on the same machine (loopback TCP): {shown}")
    return facts


def verdict(ok: bool) -> str:
    return "[green]ok[/green]" if ok else "[red]MISSED[/red]"


def cycle_table(cycles: list[CycleResult]) -> None:
    table = Table(title="Claim + submit (fenced lease, lease history, review, decision, case update, 3 audit rows)")
    numbers = (
        "tasks",
        "processes",
        "workers",
        "seconds",
        "cycles/s",
        "CPU ms/cycle",
        "server CPU ms/cycle",
        "claim ms p50/p99/max",
    )
    for column in ("backend", *numbers[:5], "target", "", *numbers[5:], "check"):
        table.add_column(column, justify="right" if column in numbers else "left")
    for c in cycles:
        target = TARGET_CYCLES[c.backend]
        table.add_row(
            c.backend,
            f"{c.tasks:,}",
            str(c.processes),
            str(c.workers),
            f"{c.seconds:.1f}",
            f"{c.rate:,.0f}",
            f">= {target:,.0f}/s",
            verdict(c.rate >= target and not c.errors),
            f"{c.cpu / c.cycles * 1000:.2f}" if c.cycles else "-",
            f"{c.server_cpu / c.cycles * 1000:.2f}" if c.cycles and c.server_cpu is not None else "-",
            " / ".join(f"{x * 1000:.1f}" for x in np.percentile(c.claims, [50, 99, 100])) if c.claims else "-",
            c.check + (f"; {len(c.errors)} worker errors: {c.errors[0]}" if c.errors else ""),
        )
    console.print(table)


# Each backend's bound (the run_bare_sqlite and run_in_database results): its name, and what it runs.
BOUNDS = {
    "sqlite": ("floor on SQLite", "bare sqlite3, 1 thread, running a cycle's statements with no Signoff code"),
    "postgresql": (
        "in-database on PostgreSQL",
        "a cycle's statements in two PL/pgSQL calls (one round trip per claim and per submit, no Python between "
        "statements), {workers} threads on bare psycopg connections",
    ),
}


def report(
    cycles: list[CycleResult],
    latencies: list[Latency],
    peer: PeerResult | None,
    bounds: dict[str, PeerResult],
    plans: dict[str, list[str]],
    facts: list[str],
) -> None:
    console.rule("Signoff review queue")
    for fact in facts:
        console.print(fact)
    if cycles:
        cycle_table(cycles)
    if latencies:
        table = Table(title="Next-task latency: one review.claim at constant depth (release untimed)")
        for column in ("backend", "depth", "claim", "n", "p50 ms", "p95 ms", "max ms", "target", ""):
            table.add_column(column, justify="left" if column in ("backend", "claim", "target", "") else "right")
        for lat in latencies:
            table.add_row(
                lat.backend,
                f"{lat.depth:,}",
                lat.variant,
                str(len(lat.samples)),
                f"{lat.pct(50):.2f}",
                f"{lat.pct(95):.2f}",
                f"{max(lat.samples) * 1000:.2f}",
                f"p95 < {TARGET_P95_MS:.0f}",
                verdict(lat.pct(95) < TARGET_P95_MS),
            )
        console.print(table)
        for backend in dict.fromkeys(lat.backend for lat in latencies):
            for variant in ("any flow", "flow+queue"):
                rows = sorted(
                    (lat for lat in latencies if (lat.backend, lat.variant) == (backend, variant)),
                    key=lambda lat: lat.depth,
                )
                if len(rows) < 2:
                    continue
                small, large = rows[0], rows[-1]
                growth = large.pct(95) / small.pct(95)
                console.print(
                    f"growth {backend}, {variant}: p95({large.depth:,}) / p95({small.depth:,}) = {growth:.2f}x "
                    f"(target <= {TARGET_GROWTH:.0f}x from 10k to 1M) {verdict(growth <= TARGET_GROWTH)}"
                )

    for backend, bound in bounds.items():
        name, what = BOUNDS[backend]
        console.print(
            f"{name}: {what.format(workers=bound.workers)}: {bound.done:,} cycles in {bound.seconds:.1f} s = "
            f"{bound.rate:,.0f} cycles/s, "
            f"{bound.cpu / max(bound.done, 1) * 1000:.2f} ms of this process's CPU per cycle ({bound.check})"
        )
        for c in cycles:
            if c.backend == backend and bound.rate:
                console.print(
                    f"Signoff / {name} = {c.rate:,.0f} / {bound.rate:,.0f} = {c.rate / bound.rate:.2f} "
                    f"({c.workers} workers in {c.processes} process(es))"
                )

    if peer is not None:
        signoff_pg = next((c for c in cycles if c.backend == "postgresql"), None)
        console.print(
            f"peer on the same PostgreSQL: {peer.library}: {peer.done:,} of {peer.jobs:,} jobs fetched + finished by "
            f"{peer.workers} coroutines in {peer.seconds:.1f} s = {peer.rate:,.0f} jobs/s, "
            f"{peer.cpu / max(peer.done, 1) * 1000:.2f} ms of this process's CPU per job ({peer.check})"
        )
        if signoff_pg is not None and peer.rate:
            console.print(
                f"Signoff / peer = {signoff_pg.rate:,.0f} / {peer.rate:,.0f} = {signoff_pg.rate / peer.rate:.2f} "
                "(per cycle Signoff does 2 transactions, 10 statements, 3 audit rows; the peer 2, 2 and 2 event rows)"
            )

    for title, plan in plans.items():
        console.rule(f"claim_task plan, {title}")
        for line in plan:
            console.print(line, markup=False, highlight=False, soft_wrap=True)


# ---------------------------------------------------------------------------------------------------------------


def _sizes(text_value: str) -> list[int]:
    return [int(float(part)) for part in text_value.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--workers", type=int, default=8, help="concurrent reviewers in the cycle benchmark")
    parser.add_argument(
        "--processes",
        default="1,2",
        help="comma-separated process counts the workers are spread over, each run in turn (default 1,2)",
    )
    parser.add_argument("--tasks", type=int, help="tasks drained in the cycle benchmark (default 10000; quick 2000)")
    parser.add_argument("--sizes", type=_sizes, help="queue depths for the latency benchmark, e.g. 10000,100000")
    parser.add_argument("--claims", type=int, help="timed claims per depth and variant (default 200; quick 50)")
    parser.add_argument("--budget", type=float, default=45.0, help="seconds at most per depth and variant")
    parser.add_argument(
        "--history",
        type=int,
        help="past reviews of one more reviewer, timed at the deepest queue (default 100000; quick 10000; 0: off)",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a fast look")
    parser.add_argument(
        "--no-peer",
        action="store_true",
        help="skip the procrastinate peer and the bounds (SQLite floor, PostgreSQL in-database)",
    )
    parser.add_argument("--skip", default="", help="comma-separated phases to skip: cycles, latency")
    parser.add_argument("--postgres-url", default=os.environ.get("SIGNOFF_BENCH_POSTGRES_URL", DEFAULT_POSTGRES))
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    tasks = args.tasks or (2_000 if args.quick else 10_000)
    claims = args.claims or (50 if args.quick else 200)
    history = args.history if args.history is not None else (10_000 if args.quick else 100_000)
    default_sizes = {
        "postgresql": [1_000, 10_000] if args.quick else [10_000, 100_000, 1_000_000],
        "sqlite": [1_000, 10_000] if args.quick else [10_000, 100_000, 1_000_000],
    }
    # The flow's entry point ``review_queue:constant`` names this module by its file name.
    sys.path.insert(0, str(Path(__file__).resolve().parent))

    load_before = load_average()
    cycles: list[CycleResult] = []
    latencies: list[Latency] = []
    plans: dict[str, list[str]] = {}
    peer: PeerResult | None = None
    bounds: dict[str, PeerResult] = {}
    for backend in backends:
        for processes in [int(p) for p in args.processes.split(",") if p.strip()] if "cycles" not in skip else []:
            with signoff_database(backend, args.postgres_url) as (db, project):
                cycles.append(run_cycles(db, project, tasks, args.workers, processes))
            console.print(f"{backend}, {processes} processes: {cycles[-1].rate:,.0f} cycles/s ({cycles[-1].check})")
        if not args.no_peer and "cycles" not in skip:
            if backend == "sqlite":
                bounds[backend] = run_bare_sqlite(args.postgres_url, tasks)
            else:
                bounds[backend] = run_in_database(args.postgres_url, tasks, args.workers)
                peer = run_peer(args.postgres_url, tasks, args.workers)
                console.print(f"peer: {peer.rate:,.0f} jobs/s")
            console.print(f"{BOUNDS[backend][0]}: {bounds[backend].rate:,.0f} cycles/s")
        if "latency" not in skip:
            with signoff_database(backend, args.postgres_url) as (db, project):
                found, plan = run_latency(
                    db, project, args.sizes or default_sizes[backend], claims, args.budget, history
                )
            latencies += found
            plans.update(plan)
            for lat in found:
                console.print(
                    f"{backend} at {lat.depth:,} ({lat.variant}): p50 {lat.pct(50):.2f} ms, p95 {lat.pct(95):.2f} ms"
                )
    facts = machine_facts(args.postgres_url if "postgresql" in backends else None, load_before)
    report(cycles, latencies, peer, bounds, plans, facts)


if __name__ == "__main__":
    main()
