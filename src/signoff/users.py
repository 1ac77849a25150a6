"""Users, roles and API tokens; what each role may do is one table of plain predicates."""

from __future__ import annotations

import hashlib
import secrets
from typing import Literal

from signoff.audit import record
from signoff.domain import AuditEvent, Role, User
from signoff.errors import Forbidden, Unauthenticated
from signoff.store import users as store
from signoff.store.database import Database

Action = Literal["submit_cases", "read_cases", "review", "list_tasks", "read_flows"]

PERMISSIONS: dict[Action, tuple[Role, ...]] = {
    "submit_cases": (Role.ADMIN, Role.INTAKE),
    "read_cases": (Role.ADMIN, Role.INTAKE, Role.REVIEWER, Role.AUDITOR),
    "review": (Role.ADMIN, Role.REVIEWER),
    "list_tasks": (Role.ADMIN, Role.REVIEWER, Role.AUDITOR),
    "read_flows": (Role.ADMIN, Role.INTAKE, Role.REVIEWER, Role.AUDITOR),
}

TOKEN_PREFIX = "so_"  # noqa: S105  # a public prefix that makes leaked tokens easy to scan for


def may(user: User, action: Action) -> bool:
    return user.role in PERMISSIONS[action]


def require(user: User, action: Action) -> None:
    if not may(user, action):
        raise Forbidden(user.role.value, tuple(r.value for r in PERMISSIONS[action]))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_user(db: Database, name: str, role: Role, actor: str) -> tuple[User, str]:
    """Create a user with a first API token; the token is shown once and only its hash is kept."""
    token = new_token()
    with db.transaction() as conn:
        now = db.now(conn)
        user = store.create_user(conn, name, role, now)
        store.add_token(conn, user.id, hash_token(token), now)
        record(
            db,
            conn,
            [
                AuditEvent(actor, "user.created", "user", str(user.id), {"name": name, "role": role.value}),
                AuditEvent(actor, "token.issued", "user", str(user.id), {"name": name}),
            ],
        )
    return user, token


def issue_token(db: Database, name: str, actor: str, *, revoke_others: bool = False) -> str:
    token = new_token()
    with db.transaction() as conn:
        now = db.now(conn)
        user = store.user_by_name(conn, name)
        revoked = store.revoke_tokens(conn, user.id, now) if revoke_others else 0
        store.add_token(conn, user.id, hash_token(token), now)
        record(
            db,
            conn,
            [AuditEvent(actor, "token.issued", "user", str(user.id), {"name": name, "revoked": revoked})],
        )
    return token


def authenticate(db: Database, token: str | None) -> User:
    if not token:
        raise Unauthenticated("an API token is required: send 'Authorization: Bearer <token>'")
    with db.transaction(write=False) as conn:
        user = store.user_by_token_hash(conn, hash_token(token))
    if user is None:
        raise Unauthenticated("the API token is unknown or revoked")
    return user


def list_users(db: Database) -> list[User]:
    with db.transaction(write=False) as conn:
        return store.list_users(conn)
