"""The whole loop through the real CLI and HTTP server, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from helpers.processes import environment, server, signoff

pytestmark = pytest.mark.slow  # the whole loop in signoff processes


def _token(output: str) -> str:
    return output.strip().splitlines()[-1]


def _tamper(database_url: str, event_id: int) -> None:
    """As the database owner: switch the append-only trigger off and rewrite one event's actor."""
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as raw:
            raw.execute("DROP TRIGGER audit_events_no_update")
            raw.execute("UPDATE audit_events SET actor = 'nobody' WHERE id = ?", (event_id,))
        return
    url = make_url(database_url)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True) as pg:
        pg.execute("ALTER TABLE audit_events DISABLE TRIGGER USER")
        pg.execute("UPDATE audit_events SET actor = 'nobody' WHERE id = %s", (event_id,))
        pg.execute("ALTER TABLE audit_events ENABLE TRIGGER USER")


@pytest.mark.parametrize("empty_database_url", ["sqlite", "postgresql"], indirect=True)
def test_init_ingest_review_decide_verify_and_detect_tampering(empty_database_url: str, tmp_path: Path) -> None:
    env = environment(empty_database_url)
    folder = tmp_path / "project"
    project = folder / "signoff.yaml"
    assert signoff("init", str(folder), env=env).returncode == 0
    upgraded = signoff("db", "upgrade", "-p", str(project), env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    alice = _token(signoff("users", "add", "alice", "--role", "reviewer", "-p", str(project), env=env).stdout)
    ops = _token(signoff("users", "add", "ops", "--role", "intake", "-p", str(project), env=env).stdout)
    ingested = signoff("ingest", "credit-approval", str(folder / "credit-cases.csv"), "-p", str(project), env=env)
    assert ingested.returncode == 0, ingested.stderr
    assert "Read 500 cases: 500 new" in ingested.stdout
    again = signoff("ingest", "credit-approval", str(folder / "credit-cases.csv"), "-p", str(project), env=env)
    assert "0 new (0 sent to review), 500 already recorded" in again.stdout

    with server(project, env) as http:
        as_alice = {"Authorization": f"Bearer {alice}"}
        claimed = http.post("/api/v1/tasks/claim", headers=as_alice)
        assert claimed.status_code == 200, claimed.text
        body = claimed.json()
        task, token, case_id = body["task"]["id"], body["lease"]["token"], body["case"]["id"]
        assert body["case"]["routes"][0]["verdict"] == "review"
        assert body["case"]["routes"][0]["reason"]
        submitted = http.post(
            f"/api/v1/tasks/{task}/submit",
            headers=as_alice,
            json={"token": token, "label": "decline", "comment": "dti"},
        )
        assert submitted.status_code == 200, submitted.text
        record = http.get(f"/api/v1/cases/{case_id}", headers={"Authorization": f"Bearer {ops}"}).json()
        assert record["decision"]["label"] == "decline" and record["decision"]["decided_by"] == "reviewer"
        assert record["tasks"][0]["leases"][0]["end_reason"] == "submitted"
        fresh = http.post(
            "/api/v1/flows/credit-approval/cases",
            headers={"Authorization": f"Bearer {ops}"},
            json={
                "external_id": "walk-in-1",
                "fields": {
                    "age": 40,
                    "income": 90000,
                    "debt_to_income": 0.1,
                    "credit_history_years": 15,
                    "late_payments": 0,
                    "loan_amount": 5000,
                    "student": "no",
                },
            },
        )
        assert fresh.status_code == 201 and fresh.json()["case"]["created"] is True

    verified = signoff("audit", "verify", "-p", str(project), env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "Audit chain intact" in verified.stdout and "not sealed" not in verified.stdout

    _tamper(empty_database_url, 42)
    broken = signoff("audit", "verify", "-p", str(project), env=env)
    assert broken.returncode == 1
    assert "audit event 42 (seal 42)" in broken.stderr and "altered" in broken.stderr
    in_spans = signoff("audit", "verify", "--jobs", "3", "-p", str(project), env=env)  # three worker processes
    assert (in_spans.returncode, in_spans.stderr) == (1, broken.stderr)
