"""A sealer that makes no progress is not silent: readiness fails and `signoff audit verify` exits non-zero with
what waits and how to unblock it. PostgreSQL, where another process can hold the sealer's lock (a stuck sealer)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from helpers.processes import environment, signoff
from helpers.scripted import scripted_project
from signoff import audit
from signoff.api.app import create_app
from signoff.domain import AuditEvent
from signoff.store.database import Database

pytestmark = pytest.mark.slow  # serves in a process and waits for the sealer to stall

SEALER_LOCK = 7355608  # the advisory lock key of lock_sealer in sql/postgresql.sql


def test_a_stuck_sealer_fails_readiness_and_verification_until_it_moves(postgres_url: str, tmp_path: Path) -> None:
    db = Database(postgres_url)
    project = scripted_project(db, tmp_path)
    with db.transaction() as conn:
        at = db.now(conn) - timedelta(seconds=audit.service.STALLED_AFTER + 30)
        audit.record(db, conn, [AuditEvent("test", "test.event", "case", "1", {})], at=at)
    env = environment(postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as stuck:
        stuck.execute("SELECT pg_advisory_lock(%s)", (SEALER_LOCK,))
        with TestClient(create_app(project)) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 503, ready.text
            assert ready.json()["reason"].startswith("audit sealing has stalled: ")
        verified = signoff("audit", "verify", "-p", str(project.path), env=env)
        assert verified.returncode == 1, verified.stdout
        assert "audit sealing has stalled" in " ".join(verified.stderr.split())
    with TestClient(create_app(project)) as client:  # the lock is free: the server seals on start
        assert client.get("/readyz").json() == {"status": "ready"}
    verified = signoff("audit", "verify", "-p", str(project.path), env=env)
    assert verified.returncode == 0 and "Audit chain intact" in verified.stdout
    db.dispose()
