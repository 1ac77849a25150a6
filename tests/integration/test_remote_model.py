"""A flow's model as a real HTTP prediction service (tests/helpers/model_server.py, its own process), on SQLite and
PostgreSQL: scored in batches through each protocol; stopped mid-run, no case is lost, the circuit opens and
closes, and the cases held meanwhile are routed by ``signoff worker`` once the model answers again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from helpers.builders import flow_document
from helpers.model_server import ModelServer
from helpers.processes import environment, free_port, signoff
from signoff import intake
from signoff.config import Project, parse_project
from signoff.intake import CaseInput, held, validate_case
from signoff.models.remote import RemoteModel
from signoff.store.database import Database
from signoff.store.schema import audit_events, cases, decisions, model_versions, routes, tasks

URLS = {
    "signoff": "/predict",
    "kserve": "/v2/models/credit/infer",
    "mlflow": "/invocations",
}


@pytest.fixture
def model_server(tmp_path: Path) -> Iterator[ModelServer]:
    server = ModelServer(tmp_path / "model.log", environment(), free_port())
    server.start()
    yield server
    server.kill()


def _project(folder: Path, database_url: str, port: int, protocol: str = "kserve", **model: Any) -> Project:
    spec = {
        "kind": "http",
        "url": f"http://127.0.0.1:{port}{URLS[protocol]}",
        "protocol": protocol,
        "version": f"remote-{protocol}",
        "timeout": 1,
        "retries": 1,
        "backoff": 0.05,
        "batch_size": 10,
        "circuit": {"failures": 2, "reset_after": 1},
        **model,
    }
    document = {
        "database_url": database_url,
        "network": {"allow": ["127.0.0.1"]},
        "flows": {"test-flow": flow_document(model=spec)},
    }
    path = folder / "signoff.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return parse_project(document, path)


def _cases(runtime: intake.FlowRuntime, first: int, n: int) -> list[CaseInput]:
    made = []
    for i in range(first, first + n):
        fields = {"score": (i % 10) / 10 + 0.05, "group": "a"}
        case, problems = validate_case(runtime.flow, f"c{i}", fields, f"cases[{i}]")
        assert case is not None, problems
        made.append(case)
    return made


def _remote(runtime: intake.FlowRuntime) -> RemoteModel:
    assert isinstance(runtime.model.predict, RemoteModel)
    return runtime.model.predict


@pytest.mark.parametrize("protocol", ["signoff", "kserve", "mlflow"])
def test_each_protocol_scores_in_batches_and_registers_a_version(
    protocol: str, sqlite_url: str, tmp_path: Path, model_server: ModelServer
) -> None:
    db = Database(sqlite_url)
    project = _project(tmp_path, sqlite_url, model_server.port, protocol)
    runtime = intake.prepare(db, project)["test-flow"]
    results = intake.submit(db, runtime, _cases(runtime, 0, 25), "tester")
    # by_score: P(bad) is the score; 0.35..0.65 fall in the review band, the others are decided
    by_id = {r.external_id: r for r in results}
    assert by_id["c0"].decision == "good" and by_id["c9"].decision == "bad"
    assert by_id["c4"].verdict == "review" and by_id["c4"].rule == "uncertain"
    import httpx

    seen = httpx.get(f"{model_server.url}/stats").json()
    assert seen["largest"] <= 10 and seen["requests"] >= 3  # 25 cases in requests of at most 10
    with db.transaction(write=False) as conn:
        kind, uri = conn.execute(select(model_versions.c.kind, model_versions.c.uri)).one()
    assert kind == "http" and uri.endswith(URLS[protocol])
    db.dispose()


def _count(db: Database, *where: Any) -> int:
    with db.transaction(write=False) as conn:
        return int(conn.execute(select(func.count()).select_from(cases).where(*where)).scalar_one())


@pytest.mark.slow
def test_a_remote_model_stopped_mid_run_loses_no_case_and_its_held_cases_are_routed_when_it_returns(
    db: Database, database_url: str, tmp_path: Path, model_server: ModelServer
) -> None:
    project = _project(tmp_path, database_url, model_server.port, when_down="hold")
    runtime = intake.prepare(db, project)["test-flow"]
    remote = _remote(runtime)
    for start in range(0, 30, 10):
        intake.submit(db, runtime, _cases(runtime, start, 10), "tester")
    assert remote.state == "closed" and _count(db, cases.c.status == "held") == 0

    model_server.kill()  # mid-run
    for start in range(30, 60, 10):  # two calls fail (after a retry each), then the circuit opens
        began = time.monotonic()
        results = intake.submit(db, runtime, _cases(runtime, start, 10), "tester")
        assert {r.status for r in results} == {"held"} and {r.rule for r in results} == {"held"}
        assert "held until the model answers again: the model is unavailable" in results[0].reason
    assert remote.state == "open"
    assert time.monotonic() - began < 0.5  # the open circuit answers at once: no request, no timeout
    assert "circuit is open" in results[0].reason
    assert held.release(db, runtime) == 0  # still down: nothing written
    assert _count(db, cases.c.status == "held") == 30
    with db.transaction(write=False) as conn:
        assert conn.execute(select(func.count()).select_from(tasks)).scalar_one() == _count(
            db, cases.c.status == "in_review"
        )
        submitted = conn.execute(
            select(func.count()).where(
                audit_events.c.action == "case.submitted", audit_events.c.data["rule"].as_string() == "held"
            )
        ).scalar_one()
    assert submitted == 30  # each held case says why in its audit event

    model_server.start()  # back on the same port
    worker = signoff("worker", "--once", "-p", str(project.path), env=environment(database_url))
    assert worker.returncode == 0, worker.stderr
    assert "Routed 30 held case(s)." in worker.stdout
    assert _count(db, cases.c.status == "held") == 0

    time.sleep(1.1)  # the circuit's reset_after: the next call is the half-open trial, which closes it
    intake.submit(db, runtime, _cases(runtime, 60, 10), "tester")
    assert remote.state == "closed"

    with db.transaction(write=False) as conn:
        external = conn.execute(select(cases.c.external_id)).scalars().all()
        open_review = conn.execute(
            select(func.count()).select_from(cases).where(cases.c.status == "in_review")
        ).scalar_one()
        reviewed_cases = conn.execute(select(func.count(tasks.c.case_id.distinct()))).scalar_one()
        decided = conn.execute(select(func.count()).select_from(cases).where(cases.c.status == "decided")).scalar_one()
        decision_rows = conn.execute(select(func.count()).select_from(decisions)).scalar_one()
        routed_events = conn.execute(select(func.count()).where(audit_events.c.action == "case.routed")).scalar_one()
        rules = set(conn.execute(select(routes.c.rule)).scalars())
    assert sorted(external) == sorted(f"c{i}" for i in range(70))  # every case once: none lost, none doubled
    assert open_review == reviewed_cases and decided == decision_rows and open_review + decided == 70
    assert routed_events == 30 and "held" not in rules


def test_when_down_review_sends_the_cases_to_review_and_says_why(sqlite_url: str, tmp_path: Path) -> None:
    db = Database(sqlite_url)
    project = _project(tmp_path, sqlite_url, free_port(), retries=0)  # nothing listens there
    runtime = intake.prepare(db, project)["test-flow"]
    results = intake.submit(db, runtime, _cases(runtime, 0, 3), "tester")
    assert {(r.status, r.verdict, r.rule) for r in results} == {("in_review", "review", "model-unavailable")}
    assert results[0].reason.startswith("the model is unavailable:") and "sent to review" in results[0].reason
    with db.transaction(write=False) as conn:
        assert conn.execute(select(func.count()).select_from(tasks)).scalar_one() == 3
    db.dispose()
