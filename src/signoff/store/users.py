"""Users and their API tokens (stored as SHA-256 hashes: a leaked table reveals no usable token)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from signoff.domain import Role, User, UserId
from signoff.errors import Conflict, NotFound
from signoff.store.schema import api_tokens, users


def _user(row: object) -> User:
    return User(id=UserId(row.id), name=row.name, role=Role(row.role))  # type: ignore[attr-defined]  # a Row


def create_user(conn: Connection, name: str, role: Role, now: datetime) -> User:
    try:
        with conn.begin_nested():
            row = conn.execute(
                insert(users).values(name=name, role=role.value, created_at=now).returning(users.c.id)
            ).one()
    except IntegrityError:
        raise Conflict(f"a user named {name!r} already exists") from None
    return User(id=UserId(row.id), name=name, role=role)


def user_by_name(conn: Connection, name: str) -> User:
    row = conn.execute(select(users).where(users.c.name == name)).first()
    if row is None:
        raise NotFound("user", name)
    return _user(row)


def list_users(conn: Connection) -> list[User]:
    return [_user(row) for row in conn.execute(select(users).order_by(users.c.id))]


def add_token(conn: Connection, user_id: UserId, token_hash: str, now: datetime) -> None:
    conn.execute(insert(api_tokens).values(user_id=user_id, token_hash=token_hash, created_at=now))


def revoke_tokens(conn: Connection, user_id: UserId, now: datetime) -> int:
    result = conn.execute(
        update(api_tokens)
        .where(api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount


def user_by_token_hash(conn: Connection, token_hash: str) -> User | None:
    row = conn.execute(
        select(users)
        .join(api_tokens, api_tokens.c.user_id == users.c.id)
        .where(api_tokens.c.token_hash == token_hash, api_tokens.c.revoked_at.is_(None), users.c.active)
    ).first()
    return None if row is None else _user(row)
