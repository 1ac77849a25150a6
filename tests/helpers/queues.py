"""Setting up a flow with queued tasks for review tests, and moving time forward for their leases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from helpers.builders import make_project
from signoff import intake, review, users
from signoff.config import Project
from signoff.domain import Role, User
from signoff.intake import validate_case
from signoff.store.database import Database
from signoff.store.schema import leases, tasks


def queued(db: Database, tmp_path: Path, n: int, **overrides: Any) -> Project:
    """A project whose every one of ``n`` cases is waiting for review (score 0.5 is inside the band)."""
    return scored(db, tmp_path, [0.5] * n, **overrides)


def scored(db: Database, tmp_path: Path, scores: Sequence[float], **overrides: Any) -> Project:
    """A project with one case per score (the model's P(bad)): inside the band 0.3-0.7 it waits for review,
    outside it the model decides it alone."""
    project = make_project(tmp_path, db.url, **overrides)
    runtime = intake.prepare(db, project)["test-flow"]
    cases = []
    for i, score in enumerate(scores):
        case, _ = validate_case(runtime.flow, f"c{i}", {"score": score, "group": "a"}, f"cases[{i}]")
        assert case is not None
        cases.append(case)
    for start in range(0, len(cases), 1000):
        intake.submit(db, runtime, cases[start : start + 1000], "tester")
    return project


def reviewer(db: Database, name: str, role: Role = Role.REVIEWER) -> User:
    return users.create_user(db, name, role, "tester")[0]


def reviewed(db: Database, tmp_path: Path) -> Database:
    """Five cases queued and three of them reviewed by alice: a database with some audit events of each kind."""
    project = queued(db, tmp_path, 5)
    alice = reviewer(db, "alice")
    for _ in range(3):
        got = review.claim(db, project, alice)
        assert got is not None
        review.submit(db, project, alice, got.task_id, got.token, "good")
    return db


def age_lease(db: Database, task_id: int, seconds: float) -> datetime:
    """Bring the task's current lease ``seconds`` closer to its expiry, as if that much time had passed; the new
    expiry. Leases are judged by the database clock alone, so moving the stored expiry (on the task and in the
    lease history) is what waiting would do, without the wait."""
    with db.transaction() as conn:
        row = conn.execute(select(tasks.c.lease_token, tasks.c.lease_expires_at).where(tasks.c.id == task_id)).one()
        assert row.lease_expires_at is not None, f"task {task_id} has no lease"
        expires: datetime = row.lease_expires_at - timedelta(seconds=seconds)
        conn.execute(update(tasks).where(tasks.c.id == task_id).values(lease_expires_at=expires))
        current = (leases.c.task_id == task_id) & (leases.c.token == row.lease_token)
        conn.execute(update(leases).where(current).values(expires_at=expires))
    return expires
