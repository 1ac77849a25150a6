"""An HTTP test client with one user and token per role."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from signoff import users
from signoff.domain import Role
from signoff.store.database import Database
from signoff.store.schema import audit_events, cases, reviews, tasks


class Api:
    """A test client with one token per role."""

    def __init__(self, client: TestClient, db: Database) -> None:
        self.client = client
        self.db = db
        self.tokens = {role: users.create_user(db, role.value, role, "test")[1] for role in Role}

    def as_(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def post(self, url: str, role: Role = Role.INTAKE, **kwargs: Any) -> Any:
        headers = {**self.as_(role), **kwargs.pop("headers", {})}
        return self.client.post(url, headers=headers, **kwargs)

    def rows(self) -> dict[str, int]:
        with self.db.transaction(write=False) as conn:
            return {
                t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (cases, tasks, reviews, audit_events)
            }
