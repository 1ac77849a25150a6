"""Users, their API tokens (stored as SHA-256 hashes: a leaked table reveals no usable token), their password
hashes and their web sessions (stored by the hash of the session id, for the same reason)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from signoff.domain import Role, User, UserId
from signoff.errors import Conflict, NotFound
from signoff.store.database import Database
from signoff.store.schema import api_tokens, as_utc, login_throttle, users, web_sessions


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


def user_by_id(conn: Connection, user_id: UserId) -> User:
    row = conn.execute(select(users).where(users.c.id == user_id)).first()
    if row is None:
        raise NotFound("user", user_id)
    return _user(row)


def list_users(conn: Connection) -> list[User]:
    return [_user(row) for row in conn.execute(select(users).order_by(users.c.id))]


def inactive_names(conn: Connection) -> set[str]:
    return set(conn.execute(select(users.c.name).where(users.c.active.is_(False))).scalars())


def set_active(conn: Connection, user_id: UserId, active: bool) -> bool:
    """Activate or deactivate a user; False if they already were."""
    result = conn.execute(update(users).where(users.c.id == user_id, users.c.active != active).values(active=active))
    return bool(result.rowcount)


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


def set_password_hash(conn: Connection, user_id: UserId, password_hash: str) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))


def login_row(conn: Connection, name: str) -> tuple[User, str | None] | None:
    """An active user and their password hash (None if no password is set), or None if there is no such user."""
    row = conn.execute(select(users).where(users.c.name == name, users.c.active)).first()
    return None if row is None else (_user(row), row.password_hash)


def add_session(
    conn: Connection, user_id: UserId, session_hash: str, csrf_token: str, now: datetime, expires_at: datetime
) -> None:
    conn.execute(
        insert(web_sessions).values(
            session_hash=session_hash, user_id=user_id, csrf_token=csrf_token, created_at=now, expires_at=expires_at
        )
    )


def session_by_hash(conn: Connection, session_hash: str, now: datetime) -> tuple[User, str] | None:
    """The user and CSRF token of a live session: not revoked, not expired, and its user still active."""
    row = conn.execute(
        select(users, web_sessions.c.csrf_token)
        .join(web_sessions, web_sessions.c.user_id == users.c.id)
        .where(
            web_sessions.c.session_hash == session_hash,
            web_sessions.c.revoked_at.is_(None),
            web_sessions.c.expires_at > now,
            users.c.active,
        )
    ).first()
    return None if row is None else (_user(row), row.csrf_token)


def revoke_session(conn: Connection, session_hash: str, now: datetime) -> UserId | None:
    """Revoke a live session; returns its user, or None if it was not live."""
    row = conn.execute(
        update(web_sessions)
        .where(web_sessions.c.session_hash == session_hash, web_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(web_sessions.c.user_id)
    ).first()
    return None if row is None else UserId(row.user_id)


def revoke_sessions(conn: Connection, user_id: UserId, now: datetime) -> int:
    result = conn.execute(
        update(web_sessions)
        .where(web_sessions.c.user_id == user_id, web_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount


# Login throttling: one row per account name or client address (``Throttle``) with its recent failures.
Throttle = tuple[str, str]  # (scope, subject)


def blocked_until(conn: Connection, keys: Sequence[Throttle], now: datetime) -> datetime | None:
    """The latest time until which any of these names or addresses is blocked, if one still is."""
    if not keys:
        return None
    found = conn.execute(
        select(func.max(login_throttle.c.blocked_until)).where(
            or_(
                *(and_(login_throttle.c.scope == scope, login_throttle.c.subject == subject) for scope, subject in keys)
            ),
            login_throttle.c.blocked_until > now,
        )
    ).scalar_one()
    return None if found is None else as_utc(found)


def count_login_failure(db: Database, conn: Connection, key: Throttle, now: datetime, forget_before: datetime) -> int:
    """Count one more failure for ``key``; returns its failures since it was last forgotten."""
    rows = db.run(conn, "count_login_failure", scope=key[0], subject=key[1], now=now, forget_before=forget_before)
    return int(rows[0].failures)


def block_login(conn: Connection, key: Throttle, until: datetime) -> None:
    conn.execute(
        update(login_throttle)
        .where(login_throttle.c.scope == key[0], login_throttle.c.subject == key[1])
        .values(blocked_until=until)
    )


def forget_login_failures(conn: Connection, key: Throttle) -> int:
    """Forget a name's or address's failures and lift its block; returns the failures forgotten."""
    row = conn.execute(
        delete(login_throttle)
        .where(login_throttle.c.scope == key[0], login_throttle.c.subject == key[1])
        .returning(login_throttle.c.failures)
    ).first()
    return 0 if row is None else int(row.failures)


def prune_login_failures(conn: Connection, forget_before: datetime, now: datetime) -> None:
    """Delete the rows of names and addresses whose failures are forgotten and which are no longer blocked."""
    conn.execute(
        delete(login_throttle).where(
            login_throttle.c.last_failure_at < forget_before,
            or_(login_throttle.c.blocked_until.is_(None), login_throttle.c.blocked_until <= now),
        )
    )


def blocked(conn: Connection, scope: str, now: datetime) -> dict[str, datetime]:
    """The subjects of ``scope`` blocked now, and until when."""
    rows = conn.execute(
        select(login_throttle.c.subject, login_throttle.c.blocked_until).where(
            login_throttle.c.scope == scope, login_throttle.c.blocked_until > now
        )
    )
    return {row.subject: row.blocked_until for row in rows}


def names_by_id(conn: Connection, user_ids: Sequence[int]) -> dict[int, str]:
    """Names of these users (an audit record shows people, not ids)."""
    if not user_ids:
        return {}
    rows = conn.execute(select(users.c.id, users.c.name).where(users.c.id.in_(sorted(set(user_ids)))))
    return {int(row.id): str(row.name) for row in rows}
