"""Users, their API tokens (stored as SHA-256 hashes: a leaked table reveals no usable token), their password
hashes and their web sessions (stored by the hash of the session id, for the same reason)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, Table, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from signoff.domain import Grant, Role, User, UserId
from signoff.errors import Conflict, NotFound
from signoff.store.database import Database
from signoff.store.schema import api_tokens, as_utc, grants, login_throttle, users, web_sessions


def _with_grants(query: Select[Any]) -> Select[Any]:
    """``query`` (over users) with each user's grants beside them: one row per grant, read in one round trip."""
    return (
        query.add_columns(grants.c.flow.label("grant_flow"), grants.c.role.label("grant_role"))
        .join(grants, grants.c.user_id == users.c.id)
        .order_by(users.c.id, grants.c.flow, grants.c.role)
    )


def _users(rows: Iterable[Any]) -> list[User]:
    """Users from rows of ``_with_grants``, in row order."""
    found: dict[int, tuple[Any, list[Grant]]] = {}
    for row in rows:
        found.setdefault(row.id, (row, []))[1].append(Grant(row.grant_flow, Role(row.grant_role)))
    return [User(UserId(row.id), row.name, tuple(held)) for row, held in found.values()]


def _one(conn: Connection, query: Select[Any]) -> User | None:
    found = _users(conn.execute(_with_grants(query)))
    return found[0] if found else None


def create_user(conn: Connection, name: str, held: Sequence[Grant], now: datetime) -> User:
    try:
        with conn.begin_nested():
            row = conn.execute(insert(users).values(name=name, created_at=now).returning(users.c.id)).one()
    except IntegrityError:
        raise Conflict(f"a user named {name!r} already exists") from None
    user_id = UserId(row.id)
    for grant in held:
        add_grant(conn, user_id, grant, now)
    return User(id=user_id, name=name, grants=tuple(held))


def add_grant(conn: Connection, user_id: UserId, grant: Grant, now: datetime) -> bool:
    """Grant a role on a flow; False if the user held it already."""
    try:
        with conn.begin_nested():
            conn.execute(insert(grants).values(user_id=user_id, flow=grant.flow, role=grant.role.value, created_at=now))
    except IntegrityError:
        return False
    return True


def remove_grant(conn: Connection, user_id: UserId, grant: Grant) -> bool:
    """Take a role on a flow away; False if the user did not hold it."""
    result = conn.execute(
        delete(grants).where(grants.c.user_id == user_id, grants.c.flow == grant.flow, grants.c.role == grant.role)
    )
    return result.rowcount > 0


def user_by_name(conn: Connection, name: str) -> User:
    user = _one(conn, select(users.c.id, users.c.name).where(users.c.name == name))
    if user is None:
        raise NotFound("user", name)
    return user


def user_by_id(conn: Connection, user_id: UserId) -> User:
    user = _one(conn, select(users.c.id, users.c.name).where(users.c.id == user_id))
    if user is None:
        raise NotFound("user", user_id)
    return user


def list_users(conn: Connection) -> list[User]:
    return _users(conn.execute(_with_grants(select(users.c.id, users.c.name))))


def inactive_names(conn: Connection) -> set[str]:
    return set(conn.execute(select(users.c.name).where(users.c.active.is_(False))).scalars())


def set_active(conn: Connection, user_id: UserId, active: bool) -> bool:
    """Activate or deactivate a user; False if they already were."""
    result = conn.execute(update(users).where(users.c.id == user_id, users.c.active != active).values(active=active))
    return bool(result.rowcount)


def add_token(conn: Connection, user_id: UserId, token_hash: str, now: datetime) -> None:
    conn.execute(insert(api_tokens).values(user_id=user_id, token_hash=token_hash, created_at=now))


def _revoke_all(conn: Connection, credentials: Table, user_id: UserId, now: datetime) -> int:
    """Revoke a user's live credentials of one kind (API tokens, web sessions); returns how many."""
    result = conn.execute(
        update(credentials)
        .where(credentials.c.user_id == user_id, credentials.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount


def live_tokens(conn: Connection, user_id: UserId) -> int:
    """How many API tokens of the user are not revoked (a count: what the audit trail shows of tokens)."""
    query = select(func.count()).where(api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None))
    return int(conn.execute(query).scalar_one())


def revoke_tokens(conn: Connection, user_id: UserId, now: datetime) -> int:
    return _revoke_all(conn, api_tokens, user_id, now)


def user_by_token_hash(conn: Connection, token_hash: str) -> User | None:
    return _one(
        conn,
        select(users.c.id, users.c.name)
        .join(api_tokens, api_tokens.c.user_id == users.c.id)
        .where(api_tokens.c.token_hash == token_hash, api_tokens.c.revoked_at.is_(None), users.c.active),
    )


def set_password_hash(conn: Connection, user_id: UserId, password_hash: str) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))


def login_row(conn: Connection, name: str) -> tuple[User, str | None] | None:
    """An active user and their password hash (None if no password is set), or None if there is no such user."""
    query = select(users.c.id, users.c.name, users.c.password_hash).where(users.c.name == name, users.c.active)
    rows = list(conn.execute(_with_grants(query)))
    return (_users(rows)[0], rows[0].password_hash) if rows else None


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
    rows = list(
        conn.execute(
            _with_grants(
                select(users.c.id, users.c.name, web_sessions.c.csrf_token)
                .join(web_sessions, web_sessions.c.user_id == users.c.id)
                .where(
                    web_sessions.c.session_hash == session_hash,
                    web_sessions.c.revoked_at.is_(None),
                    web_sessions.c.expires_at > now,
                    users.c.active,
                )
            )
        )
    )
    return (_users(rows)[0], rows[0].csrf_token) if rows else None


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
    return _revoke_all(conn, web_sessions, user_id, now)


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
