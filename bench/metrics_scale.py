"""Reads at scale: `signoff metrics`, `signoff queues`, `signoff reviewers`, the owner and lead pages and the
Prometheus scrape over 100k and 1M cases, beside a bare SQL aggregate in the same run.

On SQLite (a file in a temporary folder) and on PostgreSQL (a database of its own, dropped at the end), for each
size:

1. Build. ``N`` cases spread evenly over the last 20 days (so a day's window holds N/20 of them: ten times more at
   1M than at 100k), written by the database itself (INSERT ... SELECT over a series, in chunks of 100,000), not
   through intake: fields and groups, a prediction and a route each (85% auto, 12% review, 3% audit), the model's
   decision on auto and audit cases, a review task on each review case (nine in ten done, with a review by one of
   20 reviewers and a reviewer's decision, one in seven against the model), an audit task and review on each
   audit case, an outcome on one case in ten, and a ``case.submitted`` audit event per case and a
   ``review.submitted`` per review, sealed by the real sealer (``audit.seal``) before the reads.
2. The floor: ``SELECT status, count(*) FROM cases GROUP BY status``, the bare aggregate every read is beside.
3. `signoff metrics bench` as a user runs it (a new process each time: wall time and peak RSS from ``wait4``):
   the first run folds every case into the rollups (the one-off a worker or the first read pays), then three
   runs, the median shown. `signoff queues` and `signoff reviewers` the same way (three runs each).
4. Served, in-process through the app (Starlette's TestClient, a logged-in session; server time is the request's
   wall time): the owner page ``/owner``, the dashboard ``/owner/flows/bench`` (day window), the lead page
   ``/lead``, and ``GET /metrics`` (Prometheus), three requests each, the median shown.

Targets at 1M: `signoff metrics` < 1 s and < 300 MB; each page < 300 ms; `signoff queues` < 0.5 s; 100k to 1M
growth <= 2x. Run: ``make bench-metrics`` or ``.venv/bin/python bench/metrics_scale.py`` (``--sizes 100000`` and
``--backends sqlite`` for a quick look). ``--keep FOLDER`` keeps each built database (the SQLite file in FOLDER,
the PostgreSQL database ``signoff_bench_metrics_<backend>_<N>``) and reuses it on the next run, so that a change
to the reads is measured without building again; the first metrics run then folds only what the change needs.
It prints numbers and verdicts; it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from review_queue import (
    DEFAULT_POSTGRES,
    FLOW,
    _admin,  # the server's admin connection, to keep a database between runs
    analyze,
    console,
    database,
    load_average,
    machine_facts,
    progress_bar,
    project_document,
)
from rich.table import Table
from sqlalchemy import make_url, text

from signoff import audit, intake, users
from signoff.config import load_project
from signoff.domain import Role
from signoff.metrics.service import flow_metrics
from signoff.review import queues
from signoff.store import migrate
from signoff.store.database import Database

DAYS = 20
CHUNK = 100_000
REVIEWERS = 20
RUNS = 3
BENCH = Path(__file__).resolve().parent
TARGETS = {"metrics": 1.0, "queues": 0.5, "page": 0.3, "rss_mb": 300.0, "growth": 2.0}


def write_project(folder: Path, url: str) -> Path:
    """The queue benchmark's project (flow ``bench``, model ``review_queue:constant``, which the reads never call),
    as a file the command line reads."""
    path = folder / "signoff.yaml"
    path.write_text(yaml.safe_dump(project_document(url)), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------------------------
# Building the data in bulk, by the database itself


@dataclass(frozen=True)
class Dialect:
    series: str  # prefix (a recursive CTE on SQLite) for a source of :n rows numbered i
    source: str
    json: str  # json_object / jsonb_build_object
    at: Callable[[str], str]  # a time: now minus an expression of seconds
    text: str  # how to cast a number to text


SQLITE = Dialect(
    "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < :n) ",
    "seq",
    "json_object",
    lambda seconds: f"strftime('%Y-%m-%d %H:%M:%f000', 'now', printf('%+.3f seconds', -max({seconds}, 0)))",
    "CAST({} AS TEXT)",
)
POSTGRES = Dialect(
    "",
    "generate_series(1, :n) AS i",
    "jsonb_build_object",
    lambda seconds: f"now() - make_interval(secs => GREATEST({seconds}, 0))",
    "CAST({} AS text)",
)


def build(db: Database, n: int) -> None:
    """N cases with everything the reads look at (see the module's docstring), in chunks of ``CHUNK``."""
    d = SQLITE if db.dialect == "sqlite" else POSTGRES
    with db.transaction() as conn:
        model = conn.execute(text("SELECT id FROM model_versions")).scalar_one()
        policy = conn.execute(text("SELECT version FROM policy_versions")).scalar_one()
        reviewer_ids = [int(r) for r in conn.execute(text("SELECT id FROM users WHERE name LIKE 'bench-r%'")).scalars()]
    step = DAYS * 86400 / n
    # case k (1..n): its score, group and verdict from k alone
    score = "(((k % 1000) * 7919) % 1000) / 1000.0"  # k * 7919 itself would overflow PostgreSQL's integer at 1M
    group = "CASE WHEN k % 3 = 0 THEN 'b' ELSE 'a' END"
    verdict = "CASE WHEN k % 100 < 85 THEN 'auto' WHEN k % 100 < 97 THEN 'review' ELSE 'audit' END"
    label = f"CASE WHEN {score} > 0.5 THEN 'bad' ELSE 'good' END"
    flipped = f"CASE WHEN k % 7 = 0 THEN (CASE WHEN {score} > 0.5 THEN 'good' ELSE 'bad' END) ELSE {label} END"
    created = d.at(f"(:total - k) * {step}")  # the newest cases now, the oldest DAYS ago
    later = d.at(f"(:total - k) * {step} - 60 - (k % 3000)")  # reviewed 1 to 51 min after (not after now)
    due = d.at(f"(:total - k) * {step} - 3600")
    reviewer = f"(CASE k % {REVIEWERS} " + " ".join(f"WHEN {i} THEN {r}" for i, r in enumerate(reviewer_ids)) + " END)"
    done = "(k % 10 <> 0)"
    # k is a case's number; its row ids are its number plus the id base (``:base``), the same in every table
    numbered = f"{d.series}SELECT :base + i AS id, :base + i AS k FROM {d.source}"
    statements = [
        "INSERT INTO cases (id, flow, fields, payload_hash, groups, status, created_at) "
        f"SELECT id, '{FLOW}', {d.json}('score', {score}, 'group', {group}), 'x', {d.json}('group', {group}), "
        f"CASE WHEN {verdict} = 'review' AND NOT {done} THEN 'in_review' ELSE 'decided' END, {created} "
        f"FROM ({numbered}) s",
        "INSERT INTO predictions (id, case_id, model_version_id, probabilities, label, confidence, created_at) "
        f"SELECT id, id, {model}, NULL, {label}, CASE WHEN {score} > 0.5 THEN {score} ELSE 1 - {score} END, "
        f"{created} FROM ({numbered}) s",
        "INSERT INTO routes (id, case_id, prediction_id, policy_version, verdict, rule, reason, queue, priority, "
        "created_at, role, sla, inclusion_probability) "
        f"SELECT id, id, id, '{policy}', {verdict}, CASE WHEN {verdict} = 'review' THEN 'uncertain' WHEN {verdict} = "
        f"'audit' THEN 'audit' END, 'bench', CASE WHEN {verdict} = 'auto' THEN NULL ELSE 'default' END, 0, "
        f"{created}, CASE WHEN {verdict} = 'auto' THEN NULL ELSE 'reviewer' END, 3600, "
        f"CASE WHEN {verdict} = 'audit' THEN 0.03 END FROM ({numbered}) s",
        "INSERT INTO tasks (id, case_id, flow, queue, role, priority, status, lease_token, lease_ttl, created_at, "
        "completed_at, kind, due_at) "
        f"SELECT id, id, '{FLOW}', 'default', 'reviewer', 0, CASE WHEN {done} OR {verdict} = 'audit' THEN 'done' "
        f"ELSE 'queued' END, 1, 300, {created}, CASE WHEN {done} OR {verdict} = 'audit' THEN {later} END, "
        f"CASE WHEN {verdict} = 'audit' THEN 'audit' ELSE 'review' END, {due} FROM ({numbered}) s "
        f"WHERE {verdict} <> 'auto'",
        "INSERT INTO reviews (id, task_id, case_id, reviewer_id, lease_token, label, comment, created_at) "
        f"SELECT id, id, id, {reviewer}, 1, {flipped}, '', {later} FROM ({numbered}) s "
        f"WHERE ({verdict} = 'review' AND {done}) OR {verdict} = 'audit'",
        "INSERT INTO decisions (case_id, label, decided_by, model_version_id, review_id, created_at) "
        f"SELECT id, CASE WHEN {verdict} = 'review' THEN {flipped} ELSE {label} END, CASE WHEN {verdict} = 'review' "
        f"THEN 'reviewer' ELSE 'model' END, {model}, CASE WHEN {verdict} = 'review' THEN id END, "
        f"CASE WHEN {verdict} = 'review' THEN {later} ELSE {created} END FROM ({numbered}) s "
        f"WHERE {verdict} <> 'review' OR {done}",
        "INSERT INTO outcomes (case_id, flow, label, source, observed_at, created_at, recorded_by) "
        f"SELECT id, '{FLOW}', {label}, 'bench', NULL, {later}, 'bench' FROM ({numbered}) s WHERE k % 10 = 5",
        "INSERT INTO audit_events (at, actor, action, entity, entity_id, data) "
        f"SELECT {created}, 'bench', 'case.submitted', 'case', {d.text.format('id')}, {d.json}('verdict', {verdict}) "
        f"FROM ({numbered}) s",
        "INSERT INTO audit_events (at, actor, action, entity, entity_id, data) "
        f"SELECT {later}, 'bench', 'review.submitted', 'task', {d.text.format('id')}, {d.json}('label', {flipped}) "
        f"FROM ({numbered}) s WHERE ({verdict} = 'review' AND {done}) OR {verdict} = 'audit'",
    ]
    with progress_bar() as bar:
        shown = bar.add_task(f"{db.dialect}: building {n:,} cases", total=n)
        for base in range(0, n, CHUNK):
            size = min(CHUNK, n - base)
            with db.transaction() as conn:
                for statement in statements:
                    conn.execute(text(statement), {"n": size, "base": base, "total": n})
            bar.advance(shown, size)
    if db.dialect == "postgresql":  # ids were given: move the sequences past them, as inserts would have
        with db.transaction() as conn:
            for table in ("cases", "predictions", "routes", "tasks", "reviews"):
                highest = f"(SELECT max(id) FROM {table})"
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {highest})"))


def seal_all(db: Database) -> float:
    started = time.perf_counter()
    while audit.seal(db) > 0:
        pass
    return time.perf_counter() - started


# ---------------------------------------------------------------------------------------------------------------
# Measuring


@dataclass(frozen=True)
class Run:
    seconds: float
    rss_mb: float
    cpu: float  # user + system seconds of the process: what the command costs, whatever else the machine runs


def cli(project: Path, *args: str) -> Run:
    """One `signoff` command in a new process: wall time and peak RSS (``wait4``)."""
    path = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(BENCH)) if p)
    env = {**os.environ, "PYTHONPATH": path, "SIGNOFF_PROJECT": str(project)}
    command = [str(Path(sys.executable).parent / "signoff"), *args]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603  # our own command
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{' '.join(args)} failed: {process.stderr.read().decode() if process.stderr else ''}")
    return Run(seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


def median_run(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.seconds for r in runs),
        max(r.rss_mb for r in runs),
        statistics.median(r.cpu for r in runs),
    )


def median_seconds(call: Callable[[], object]) -> float:
    """The median wall time of ``RUNS`` calls."""
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bare_aggregate(db: Database) -> None:
    """The floor: one COUNT/GROUP BY over the cases table."""
    with db.transaction(write=False) as conn:
        conn.execute(text("SELECT status, count(*) FROM cases GROUP BY status")).all()


@contextmanager
def served_client(project_path: Path, db: Database) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from signoff.api.app import create_app
    from signoff.web.security import SESSION_COOKIE, cookie_name

    if all(u.name != "bench-lead" for u in users.list_users(db)):
        users.create_user(db, "bench-lead", Role.ADMIN, "bench")
    password = users.new_password()
    users.set_password(db, "bench-lead", password, "bench")
    session = users.login(db, "bench-lead", password)
    os.environ["SIGNOFF_PROJECT"] = str(project_path)
    app = create_app(load_project(project_path))
    with TestClient(app, base_url="https://testserver") as client:
        client.cookies.set(cookie_name(SESSION_COOKIE, True), session.session_id)
        yield client


def get(client: Any, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    if response.status_code != 200:
        raise SystemExit(f"GET {path}: {response.status_code} {response.text[:300]}")


@dataclass(frozen=True)
class Result:
    backend: str
    cases: int
    build: float
    seal: float
    floor: float
    process: Run  # `signoff --help`: starting the command line, the floor of every command
    first_metrics: Run
    metrics: Run
    queues: Run
    reviewers: Run
    calls: dict[str, float]  # the services behind the commands, in this process
    pages: dict[str, float]


@contextmanager
def kept(backend: str, n: int, folder: Path, postgres_url: str) -> Iterator[tuple[Path, str, bool]]:
    """(a folder for the project, the database's URL, whether it was built by an earlier run) of a database kept
    in ``folder`` (PostgreSQL: on the server, created when missing and never dropped)."""
    home = folder / f"{backend}-{n}"
    home.mkdir(parents=True, exist_ok=True)
    built = (home / "built").exists()
    if backend == "sqlite":
        if not built:  # a build that did not finish is started again
            for leftover in home.glob("metrics.db*"):
                leftover.unlink()
        url = f"sqlite:///{home / 'metrics.db'}"
    else:
        name = f"signoff_bench_metrics_{backend}_{n}"
        with _admin(postgres_url) as admin:
            if not built:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                admin.execute(f'CREATE DATABASE "{name}"')
        url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    yield home, url, built


@contextmanager
def scratch(backend: str, postgres_url: str) -> Iterator[tuple[Path, str, bool]]:
    with (
        tempfile.TemporaryDirectory(prefix="signoff-bench-") as folder,
        database(backend, Path(folder), postgres_url, "metrics") as url,
    ):
        yield Path(folder), url, False


def measure(backend: str, n: int, postgres_url: str, keep: Path | None = None) -> Result:
    place = kept(backend, n, keep, postgres_url) if keep is not None else scratch(backend, postgres_url)
    with place as (folder, url, built_before):
        project_path = write_project(folder, url)
        project = load_project(project_path)
        db = Database(url)
        try:
            migrate.upgrade(db)
            built = sealed = 0.0
            if not built_before:
                intake.prepare(db, project)
                for i in range(REVIEWERS):
                    users.create_user(db, f"bench-r{i}", Role.REVIEWER, "bench")
                started = time.perf_counter()
                build(db, n)
                built = time.perf_counter() - started
                sealed = seal_all(db)
                analyze(db)
                (folder / "built").touch()
            floor = median_seconds(lambda: bare_aggregate(db))
            process = median_run([cli(project_path, "--help") for _ in range(RUNS)])
            first = cli(project_path, "metrics", FLOW)
            metrics = median_run([cli(project_path, "metrics", FLOW) for _ in range(RUNS)])
            queued = median_run([cli(project_path, "queues") for _ in range(RUNS)])
            reviewers = median_run([cli(project_path, "reviewers") for _ in range(RUNS)])
            calls = {
                "flow_metrics": median_seconds(lambda: flow_metrics(db, project, FLOW, "day")),
                "queues.overview": median_seconds(lambda: queues.overview(db)),
                "queues.reviewers": median_seconds(lambda: queues.reviewers(db)),
            }
            with served_client(project_path, db) as client:
                paths = ("/owner", f"/owner/flows/{FLOW}", "/lead", "/metrics")
                pages = {path: median_seconds(lambda path=path: get(client, path)) for path in paths}
        finally:
            db.dispose()
    return Result(backend, n, built, sealed, floor, process, first, metrics, queued, reviewers, calls, pages)


def show(results: list[Result]) -> None:
    commands = Table(title="Commands, each a new process (median of 3: wall, CPU; peak RSS)")
    for column in ("database", "cases", "signoff --help", "metrics (1st: fold)", "metrics", "queues", "reviewers"):
        commands.add_column(column, justify="right")
    served = Table(title="In the process: the services and the pages (median of 3), beside the SQL floor")
    for column in ("database", "cases", "floor: bare GROUP BY", *results[0].calls, *results[0].pages):
        served.add_column(column, justify="right")
    for r in results:
        commands.add_row(
            r.backend,
            f"{r.cases:,}",
            *(
                f"{run.seconds:.2f} s ({run.cpu:.2f} s CPU), {run.rss_mb:.0f} MB"
                for run in (r.process, r.first_metrics, r.metrics, r.queues, r.reviewers)
            ),
        )
        timed = {**r.calls, **r.pages}
        served.add_row(
            r.backend,
            f"{r.cases:,}",
            f"{r.floor * 1000:.0f} ms",
            *(f"{s * 1000:.0f} ms ({s / r.floor:.1f}x)" for s in timed.values()),
        )
    console.print(commands)
    console.print(served)
    for r in results:
        console.print(f"{r.backend} {r.cases:,}: built in {r.build:.0f} s, sealed in {r.seal:.0f} s")
    by = {(r.backend, r.cases): r for r in results}
    for r in results:
        small = by.get((r.backend, min(c for b, c in by if b == r.backend)))
        if small is not None and small.cases < r.cases:
            growth = {
                "metrics": r.metrics.seconds / small.metrics.seconds,
                "queues": r.queues.seconds / small.queues.seconds,
                "reviewers": r.reviewers.seconds / small.reviewers.seconds,
                **{name: r.calls[name] / small.calls[name] for name in r.calls},
                **{path: r.pages[path] / small.pages[path] for path in r.pages},
                "floor": r.floor / small.floor,
            }
            shown = ", ".join(f"{k} {v:.1f}x" for k, v in growth.items())
            console.print(f"{r.backend}: growth {small.cases:,} -> {r.cases:,}: {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--postgres", default=os.environ.get("SIGNOFF_BENCH_POSTGRES", DEFAULT_POSTGRES))
    parser.add_argument("--keep", type=Path, help="keep the built databases here and reuse them on the next run")
    args = parser.parse_args()
    for line in machine_facts(args.postgres if "postgresql" in args.backends else None, load_average()):
        console.print(line)
    results = []
    for backend in args.backends.split(","):
        for n in (int(s) for s in args.sizes.split(",")):
            results.append(measure(backend, n, args.postgres, args.keep))
            show(results[-1:])
    show(results)
    console.print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
