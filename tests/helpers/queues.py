"""Setting up a flow with queued tasks for review tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.builders import make_project
from signoff import intake, users
from signoff.config import Project
from signoff.domain import Role, User
from signoff.intake import validate_case
from signoff.store.database import Database


def queued(db: Database, tmp_path: Path, n: int, **overrides: Any) -> Project:
    """A project whose every one of ``n`` cases is waiting for review (score 0.5 is inside the band)."""
    project = make_project(tmp_path, db.url, **overrides)
    runtime = intake.prepare(db, project)["test-flow"]
    cases = []
    for i in range(n):
        case, _ = validate_case(runtime.flow, f"c{i}", {"score": 0.5, "group": "a"}, f"cases[{i}]")
        assert case is not None
        cases.append(case)
    for start in range(0, n, 1000):
        intake.submit(db, runtime, cases[start : start + 1000], "tester")
    return project


def reviewer(db: Database, name: str, role: Role = Role.REVIEWER) -> User:
    return users.create_user(db, name, role, "tester")[0]
