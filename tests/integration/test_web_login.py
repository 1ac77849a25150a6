"""Passwords and web sessions: Argon2id hashes, revocable sessions, audited logins, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from signoff import audit, users
from signoff.domain import Role
from signoff.errors import InvalidInput, NotFound, Unauthenticated
from signoff.store.database import Database
from signoff.store.schema import audit_events, web_sessions
from signoff.store.schema import users as users_table

PASSWORD = "a long enough password"


def _actions(db: Database) -> list[tuple[str, str]]:
    with db.transaction(write=False) as conn:
        return [(r.actor, r.action) for r in conn.execute(select(audit_events).order_by(audit_events.c.id))]


def test_a_password_is_stored_as_an_argon2id_hash_and_opens_a_revocable_session(db: Database) -> None:
    users.create_user(db, "alice", Role.REVIEWER, "test")
    users.set_password(db, "alice", PASSWORD, "admin")
    with db.transaction(write=False) as conn:
        stored = conn.execute(select(users_table.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    session = users.login(db, "alice", PASSWORD, source="127.0.0.1")
    found = users.session_user(db, session.session_id)
    assert found is not None and found[0].name == "alice" and found[1] == session.csrf_token
    with db.transaction(write=False) as conn:  # only a hash of the session id is kept
        assert conn.execute(select(web_sessions.c.session_hash)).scalar_one() != session.session_id
    users.logout(db, session.session_id)
    assert users.session_user(db, session.session_id) is None
    assert ("alice", "login") in _actions(db) and ("alice", "logout") in _actions(db)
    audit.seal(db)
    assert audit.verify(db).ok


@pytest.mark.parametrize(("name", "password"), [("alice", "not the password"), ("nobody", PASSWORD)])
def test_a_failed_login_says_the_same_whatever_was_wrong_and_is_audited(db: Database, name: str, password: str) -> None:
    users.create_user(db, "alice", Role.REVIEWER, "test")
    users.set_password(db, "alice", PASSWORD, "admin")
    with pytest.raises(Unauthenticated, match=r"^unknown user or wrong password$"):
        users.login(db, name, password)
    assert (name, "login.failed") in _actions(db)


def test_a_user_without_a_password_cannot_log_in(db: Database) -> None:
    users.create_user(db, "svc", Role.INTAKE, "test")
    with pytest.raises(Unauthenticated, match="unknown user or wrong password"):
        users.login(db, "svc", "")


def test_expired_sessions_and_inactive_users_are_refused(db: Database) -> None:
    user, _ = users.create_user(db, "alice", Role.REVIEWER, "test")
    users.set_password(db, "alice", PASSWORD, "admin")
    first = users.login(db, "alice", PASSWORD)
    second = users.login(db, "alice", PASSWORD)
    with db.transaction() as conn:
        conn.execute(
            update(web_sessions)
            .where(web_sessions.c.csrf_token == first.csrf_token)
            .values(expires_at=db.now(conn).replace(year=2000))
        )
    assert users.session_user(db, first.session_id) is None
    assert users.session_user(db, second.session_id) is not None
    with db.transaction() as conn:
        conn.execute(update(users_table).where(users_table.c.id == user.id).values(active=False))
    assert users.session_user(db, second.session_id) is None


def test_setting_a_password_ends_open_sessions_and_short_passwords_are_refused(db: Database) -> None:
    users.create_user(db, "alice", Role.REVIEWER, "test")
    users.set_password(db, "alice", PASSWORD, "admin")
    session = users.login(db, "alice", PASSWORD)
    users.set_password(db, "alice", PASSWORD + "!", "admin")
    assert users.session_user(db, session.session_id) is None
    with pytest.raises(InvalidInput, match="12 to 1024 characters"):
        users.set_password(db, "alice", "short", "admin")
    with pytest.raises(NotFound):
        users.set_password(db, "nobody", PASSWORD, "admin")
