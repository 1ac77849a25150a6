"""GET /metrics after a scripted run: every store-derived number equals what the store says, on SQLite and
PostgreSQL; a second registry (another server process) reports the same; the dashboard and the alert rules
only use series that are exposed, and promtool accepts the rules."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from helpers.scripted import scripted_project, scripted_run
from signoff import audit
from signoff.api.app import create_app
from signoff.observe import prometheus
from signoff.store.database import Database
from signoff.store.schema import cases, decisions, reviews, routes

ROOT = Path(__file__).resolve().parents[2]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _samples(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _get(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_a_scrape_after_a_scripted_run_matches_the_store(db: Database, tmp_path: Path) -> None:
    project = scripted_project(db, tmp_path)
    with TestClient(create_app(project)) as client:
        before = _samples(client.get("/metrics").text)
        scripted_run(db, project)
        audit.seal(db)
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    got = _samples(response.text)

    with db.transaction(write=False) as conn:
        n_cases = conn.execute(select(func.count()).where(cases.c.status != "gold")).scalar_one()
        verdicts = dict(
            conn.execute(
                select(routes.c.verdict, func.count())
                .select_from(routes.join(cases, cases.c.id == routes.c.case_id))
                .where(cases.c.status != "gold")
                .group_by(routes.c.verdict)
            ).all()
        )
        by = dict(conn.execute(select(decisions.c.decided_by, func.count()).group_by(decisions.c.decided_by)).all())
        n_reviews = conn.execute(select(func.count()).select_from(reviews)).scalar_one()

    flow = {"flow": "test-flow"}
    assert _get(got, "signoff_cases_total", **flow) == n_cases == 6
    assert verdicts == {"audit": 3, "review": 3}
    for verdict, n in verdicts.items():
        assert _get(got, "signoff_routes_total", **flow, verdict=verdict) == n
    assert by == {"model": 3, "reviewer": 3}
    for source, n in by.items():
        assert _get(got, "signoff_decisions_total", **flow, decided_by=source) == n
    queue = {**flow, "queue": "default"}
    assert _get(got, "signoff_reviews_total", **queue) == n_reviews == 8
    assert _get(got, "signoff_queue_depth", **queue) == 0  # every task is done
    assert _get(got, "signoff_queue_oldest_age_seconds", **queue) == 0
    assert _get(got, "signoff_sla_breached_tasks", **queue) == 3  # 240, 300 and 600 s against a 200 s SLA
    assert _get(got, "signoff_lease_expiries_total", **queue) == 0
    assert _get(got, "signoff_audit_unsealed_events") == 0
    assert _get(got, "signoff_audit_sealing_lag_seconds") == 0
    # the in-process histogram saw the six non-gold completions of this run (observed at submit)
    count = "signoff_review_turnaround_seconds_count"
    assert _get(got, count, **queue) - _get(before, count, **queue) == 6
    assert _get(got, "signoff_intake_seconds_count", **flow) - _get(before, "signoff_intake_seconds_count", **flow) == 1

    # another server process on the same store reports the same store-derived numbers
    other = _samples(prometheus.exposition(prometheus.registry_for(db, project)).decode())
    for key, value in got.items():
        if key[0].startswith(("signoff_cases", "signoff_routes", "signoff_queue_depth", "signoff_reviews")):
            assert other[key] == value


def test_open_work_shows_as_depth_and_age(db: Database, tmp_path: Path) -> None:
    from helpers.queues import queued

    project = queued(db, tmp_path, 3)
    got = _samples(prometheus.exposition(prometheus.registry_for(db, project)).decode())
    queue = {"flow": "test-flow", "queue": "default"}
    assert _get(got, "signoff_queue_depth", **queue) == 3
    assert _get(got, "signoff_queue_oldest_age_seconds", **queue) >= 0
    assert _get(got, "signoff_audit_unsealed_events") > 0  # nothing sealed them yet


def _exposed_names(db: Database, project_dir: Path) -> set[str]:
    from helpers.builders import make_project

    project = make_project(project_dir, db.url)
    names = set()
    for family in text_string_to_metric_families(prometheus.exposition(prometheus.registry_for(db, project)).decode()):
        names.add(family.name)
        names.update({f"{family.name}_total", f"{family.name}_bucket", f"{family.name}_count", f"{family.name}_sum"})
    return names


def _series_in(expression: str) -> set[str]:
    return set(re.findall(r"\b(signoff_[a-z_]+)", expression))


def test_the_dashboard_and_the_rules_use_only_exposed_series(db: Database, tmp_path: Path) -> None:
    exposed = _exposed_names(db, tmp_path)
    dashboard = json.loads((ROOT / "deploy/grafana/signoff.json").read_text(encoding="utf-8"))
    used = {name for panel in dashboard["panels"] for t in panel["targets"] for name in _series_in(t["expr"])}
    assert used and used <= exposed, used - exposed
    rules = (ROOT / "deploy/prometheus/alerts.yml").read_text(encoding="utf-8")
    assert _series_in(rules) <= exposed, _series_in(rules) - exposed


def test_promtool_accepts_the_alert_rules() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is required under CI=true: apt-get install -y prometheus")
        pytest.skip("promtool not installed (apt-get install -y prometheus)")
    result = subprocess.run(
        [promtool, "check", "rules", str(ROOT / "deploy/prometheus/alerts.yml")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


_OBSERVE = """
from signoff.observe.prometheus import TURNAROUND_SECONDS
TURNAROUND_SECONDS.labels("test-flow", "default").observe({seconds})
"""


def test_multiprocess_mode_adds_up_the_processes_histograms(sqlite_url: str, tmp_path: Path) -> None:
    """Two server processes each observe a turnaround; a scrape through a third sees both (the database kind
    plays no part: SQLite only)."""
    import sys

    from helpers.builders import make_project

    folder = tmp_path / "prometheus"
    folder.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    for seconds in (30, 4000):
        done = subprocess.run(
            [sys.executable, "-c", _OBSERVE.format(seconds=seconds)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    script = (
        "import sys\n"
        "from signoff.config import load_project\n"
        "from signoff.store.database import Database\n"
        "from signoff.observe import prometheus\n"
        "project = load_project(sys.argv[1])\n"
        "print(prometheus.exposition(prometheus.registry_for(Database(project.database_url), project)).decode())\n"
    )
    project = make_project(tmp_path, sqlite_url)
    scraped = subprocess.run(
        [sys.executable, "-c", script, str(project.path)], env=env, capture_output=True, text=True, timeout=120
    )
    assert scraped.returncode == 0, scraped.stderr
    got = _samples(scraped.stdout)
    queue = {"flow": "test-flow", "queue": "default"}
    assert _get(got, "signoff_review_turnaround_seconds_count", **queue) == 2
    assert _get(got, "signoff_review_turnaround_seconds_sum", **queue) == 4030
    assert _get(got, "signoff_review_turnaround_seconds_bucket", **queue, le="60.0") == 1
    assert _get(got, "signoff_queue_depth", **queue) == 0  # the store-derived gauges are there too
