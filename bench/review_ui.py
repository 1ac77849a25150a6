"""Review workspace: server time of the next-task transition with 100k queued tasks, beside the bare JSON API.

On SQLite (a file in a temporary folder) and on PostgreSQL (a database of its own, dropped at the end):

1. ``--tasks`` cases (default 100,000) go through the real intake (score, route, record, audit), all into review,
   so every task has a prediction, a route and audit events like a real one. The app is built by
   ``create_app`` and driven in-process through Starlette's TestClient, with its periodic sealer and
   escalation running as in ``signoff serve``.
2. The web transition: a reviewer logged in through ``/login`` (session cookie, CSRF header) posts
   ``/review/tasks/{id}/submit`` with ``next: true``: the fenced, audited submit, the claim of the next task, and
   the rendering of that task (the case record, the feature contributions, which call the model on 1 + n_fields
   rows, and the Jinja2 template), in one request. Timed two ways: the handler's own time (its Server-Timing
   header) and the request's wall time seen by the in-process client.
3. The bare JSON API in the same run, on the same queue: ``POST /api/v1/tasks/claim`` then
   ``POST /api/v1/tasks/{id}/submit`` with a bearer token, timed as one pair; the ratio web / API compares the
   wall times of the two.

The model is a cheap Python function (a logistic score of the fields), so the render's model calls cost little;
a heavier model adds its own predict time on 1 + n_fields rows to each transition. Target: web transition p95 <
100 ms. Run: ``make bench-ui`` or ``.venv/bin/python bench/review_ui.py`` (``--tasks 10000`` for a quick look).
It prints numbers and verdicts; it asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import re
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from fastapi.testclient import TestClient
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from signoff import intake, users
from signoff.api.app import create_app
from signoff.config import Project, parse_project
from signoff.domain import Role
from signoff.store import migrate
from signoff.store.database import Database

FLOW = "bench"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
TARGET_P95_MS = 100.0
console = Console() if sys.stdout.isatty() else Console(width=150)
FIELDS = {
    "age": {"type": "integer", "min": 18, "max": 120},
    "income": {"type": "number", "min": 0},
    "debt_to_income": {"type": "number", "min": 0, "max": 5},
    "late_payments": {"type": "integer", "min": 0},
    "loan_amount": {"type": "number", "min": 0},
    "history_years": {"type": "number", "min": 0},
    "student": {"type": "category", "values": ["yes", "no"]},
}


def model(frame: pd.DataFrame) -> np.ndarray:
    """The flow's model (entry point ``review_ui:model``): a logistic score kept inside the review band."""
    z = (
        0.8 * frame["debt_to_income"].to_numpy(dtype=float)
        + 0.15 * frame["late_payments"].to_numpy(dtype=float)
        - frame["income"].to_numpy(dtype=float) / 200_000
        - 0.02 * frame["history_years"].to_numpy(dtype=float)
        + np.where(frame["student"].to_numpy() == "yes", 0.1, 0.0)
    )
    p = 0.35 + 0.3 / (1 + np.exp(-z))  # between 0.35 and 0.65: every case goes to review
    return np.column_stack([1 - p, p])


def make_project(folder: Path, url: str) -> Project:
    document = {
        "database_url": url,
        "flows": {
            FLOW: {
                "labels": ["approve", "decline"],
                "fields": FIELDS,
                "groups": ["student"],
                "model": {"kind": "python", "entry_point": "review_ui:model", "version": "1"},
                "policy": [
                    {
                        "name": "uncertain",
                        "kind": "band",
                        "label": "decline",
                        "low": 0.3,
                        "high": 0.7,
                        "review": "inside",
                    }
                ],
                "queues": {"underwriting": {"role": "reviewer", "lease_ttl": 300}},
            }
        },
    }
    return parse_project(document, folder / "signoff.yaml")


def applicants(n: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [
        {
            "age": int(rng.integers(18, 80)),
            "income": float(round(rng.lognormal(10.8, 0.5), 2)),
            "debt_to_income": float(round(rng.uniform(0, 1.5), 3)),
            "late_payments": int(rng.poisson(1)),
            "loan_amount": float(round(rng.uniform(1000, 50000), 2)),
            "history_years": float(round(rng.uniform(0, 30), 1)),
            "student": "yes" if rng.random() < 0.2 else "no",
        }
        for _ in range(n)
    ]


@contextmanager
def database(backend: str, postgres_url: str) -> Iterator[tuple[str, Path]]:
    with tempfile.TemporaryDirectory(prefix="signoff-bench-ui-") as folder:
        if backend == "sqlite":
            yield f"sqlite:///{Path(folder) / 'bench.db'}", Path(folder)
            return
        name = f"signoff_bench_{secrets.token_hex(4)}_ui"
        url = make_url(postgres_url)
        admin = {"host": url.host, "port": url.port or 5432, "user": url.username, "password": url.password}
        with psycopg.connect(**admin, dbname=url.database, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield url.set(database=name).render_as_string(hide_password=False), Path(folder)
        finally:
            with psycopg.connect(**admin, dbname=url.database, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fill(url: str, project: Project, n: int) -> float:
    """N cases through the real intake, all routed to review; returns the seconds it took."""
    db = Database(url)
    migrate.upgrade(db)
    runtime = intake.prepare(db, project, "bench")[FLOW]
    started = time.perf_counter()
    for start in range(0, n, 10_000):
        rows = applicants(min(10_000, n - start), seed=start)
        cases = [intake.validate_case(runtime.flow, None, row, "case")[0] for row in rows]
        intake.submit(db, runtime, [c for c in cases if c is not None], "bench")
    if db.dialect == "postgresql":  # what autovacuum would soon do after a bulk load
        with db.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    db.dispose()
    return time.perf_counter() - started


def percentiles(values: list[float]) -> tuple[float, float]:
    array = np.asarray(values)
    return float(np.percentile(array, 50)), float(np.percentile(array, 95))


def measure(url: str, project: Project, count: int) -> dict[str, list[float]]:
    db = Database(url)
    users.create_user(db, "web-reviewer", Role.REVIEWER, "bench")
    users.set_password(db, "web-reviewer", "bench-password-123", "bench")
    token = users.create_user(db, "api-reviewer", Role.REVIEWER, "bench")[1]
    db.dispose()
    found: dict[str, list[float]] = {
        "web_server": [],
        "web_wall": [],
        "api_wall": [],
        "submit": [],
        "claim": [],
        "render": [],
    }
    with TestClient(create_app(project), base_url="http://bench") as client:
        form = client.get("/login").text
        login_token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert login_token is not None
        fields = {"name": "web-reviewer", "password": "bench-password-123", "csrf_token": login_token[1], "next": ""}
        assert client.post("/login", data=fields, follow_redirects=False).status_code == 303
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/review").text)
        assert csrf is not None
        headers = {"x-csrf-token": csrf[1]}
        task = client.post("/review/next", headers=headers).json()["task"]
        bearer = {"Authorization": f"Bearer {token}"}
        for i in range(count + 10):  # the first 10 of each warm up caches and pools
            started = time.perf_counter()
            response = client.post(
                f"/review/tasks/{task['id']}/submit",
                json={"token": task["token"], "label": "approve", "comment": "", "next": True},
                headers=headers,
            )
            wall = time.perf_counter() - started
            assert response.status_code == 200, response.text
            task = response.json()["next"]["task"]
            parts = dict(part.strip().split(";dur=") for part in response.headers["server-timing"].split(","))
            started = time.perf_counter()
            claimed = client.post("/api/v1/tasks/claim", headers=bearer).json()
            submitted = client.post(
                f"/api/v1/tasks/{claimed['task']['id']}/submit",
                json={"token": claimed["lease"]["token"], "label": "decline", "comment": ""},
                headers=bearer,
            )
            api = time.perf_counter() - started
            assert submitted.status_code == 200, submitted.text
            if i >= 10:
                found["web_server"].append(float(parts["app"]))
                for name in ("submit", "claim", "render"):
                    found[name].append(float(parts[name]))
                found["web_wall"].append(wall * 1000)
                found["api_wall"].append(api * 1000)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--transitions", type=int, default=300)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    sys.path.insert(0, str(Path(__file__).parent))  # so the flow's entry point review_ui:model imports
    table = Table(
        "database",
        "queued",
        "web server p50 / p95 ms",
        "web wall p50 / p95 ms",
        "API claim+submit p50 / p95 ms",
        "web / API (p50)",
        f"p95 < {TARGET_P95_MS:.0f} ms",
        title=f"Next-task transition, {args.transitions} timed per database",
    )
    for backend in ["sqlite", "postgresql"] if args.only is None else [args.only]:
        with database(backend, args.postgres_url) as (url, folder):
            project = make_project(folder, url)
            with console.status(f"{backend}: ingesting {args.tasks:,} cases into review..."):
                seconds = fill(url, project, args.tasks)
            console.print(f"{backend}: {args.tasks:,} cases ingested in {seconds:.1f} s")
            with console.status(f"{backend}: timing {args.transitions} transitions..."):
                found = measure(url, project, args.transitions)
        server, wall, api = (percentiles(found[k]) for k in ("web_server", "web_wall", "api_wall"))
        split = ", ".join(
            f"{k} {percentiles(found[k])[0]:.1f} / {percentiles(found[k])[1]:.1f}"
            for k in ("submit", "claim", "render")
        )
        console.print(f"{backend}: web transition parts, p50 / p95 ms: {split}")
        table.add_row(
            backend,
            f"{args.tasks:,}",
            f"{server[0]:.1f} / {server[1]:.1f}",
            f"{wall[0]:.1f} / {wall[1]:.1f}",
            f"{api[0]:.1f} / {api[1]:.1f}",
            f"{wall[0] / api[0]:.2f}x",
            "[green]met[/]" if server[1] < TARGET_P95_MS and wall[1] < TARGET_P95_MS else "[red]missed[/]",
        )
    console.print(table)


if __name__ == "__main__":
    main()
