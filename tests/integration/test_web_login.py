"""Passwords and web sessions: Argon2id hashes, revocable sessions, audited logins, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from signoff import audit, users
from signoff.domain import Role
from signoff.errors import InvalidInput, NotFound, Unauthenticated
from signoff.store.database import Database
from signoff.store.schema import audit_events, login_throttle, web_sessions
from signoff.store.schema import users as users_table
from signoff.users import LoginLimits, LoginThrottled

PASSWORD = "a long enough password"


def _actions(db: Database) -> list[tuple[str, str]]:
    with db.transaction(write=False) as conn:
        return [(r.actor, r.action) for r in conn.execute(select(audit_events).order_by(audit_events.c.id))]


def _failures(db: Database) -> dict[tuple[str, str], int]:
    with db.transaction(write=False) as conn:
        return {(r.scope, r.subject): r.failures for r in conn.execute(select(login_throttle))}


def _time_passes(db: Database, seconds: float) -> None:
    """Move the throttle's clock: every failure and block happened ``seconds`` earlier."""
    with db.transaction() as conn:
        for row in conn.execute(select(login_throttle)).all():
            earlier = {"last_failure_at": row.last_failure_at - timedelta(seconds=seconds)}
            if row.blocked_until is not None:
                earlier["blocked_until"] = row.blocked_until - timedelta(seconds=seconds)
            conn.execute(
                update(login_throttle)
                .where(login_throttle.c.scope == row.scope, login_throttle.c.subject == row.subject)
                .values(**earlier)
            )


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
def test_a_failed_login_says_the_same_whatever_was_wrong_and_is_only_counted(
    db: Database, name: str, password: str
) -> None:
    users.create_user(db, "alice", Role.REVIEWER, "test")
    users.set_password(db, "alice", PASSWORD, "admin")
    before = _actions(db)
    with pytest.raises(Unauthenticated, match=r"^unknown user or wrong password$"):
        users.login(db, name, password, source="10.0.0.1")
    assert _actions(db) == before  # counted in the throttle table, not one audit event per anonymous try
    assert _failures(db) == {("account", name): 1, ("address", "10.0.0.1"): 1}


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


# Throttling, lockout and deactivation (each fails on a server without them: 90 wrong passwords then the right one
# were accepted; every failed login, even with a megabyte password, wrote an audit event named by the caller).
LIMITS = LoginLimits(account_tries=3, address_tries=1000, lockout_after=5, backoff=10, lockout=3600)


def _wrong_passwords(db: Database, count: int, name: str = "alice") -> None:
    """``count`` wrong passwords, waiting out each backoff (by moving the clock) so that every one is checked."""
    for _ in range(count):
        with pytest.raises(Unauthenticated):
            users.login(db, name, "not the password", source="10.0.0.1", limits=LIMITS)
        _time_passes(db, LIMITS.backoff_max)


@pytest.mark.parametrize("lifted_by", ["unlock", "time"])
def test_a_locked_account_refuses_even_the_right_password_until_unlocked_or_its_lockout_ends(
    db: Database, lifted_by: str
) -> None:
    users.create_user(db, "alice", Role.REVIEWER, "test")
    users.set_password(db, "alice", PASSWORD, "admin")
    _wrong_passwords(db, LIMITS.lockout_after - 1)
    users.login(db, "alice", PASSWORD, limits=LIMITS)  # a login forgets the failures before it
    assert _failures(db).get(("account", "alice")) is None
    _wrong_passwords(db, 2)
    with pytest.raises(Unauthenticated):  # the 3rd failure blocks the name for 10 s
        users.login(db, "alice", "not the password", source="10.0.0.1", limits=LIMITS)
    with pytest.raises(LoginThrottled, match="too many failed logins") as blocked:
        users.login(db, "alice", PASSWORD, limits=LIMITS)
    _time_passes(db, 9)
    with pytest.raises(LoginThrottled) as still:  # a blocked try is refused, not counted
        users.login(db, "alice", "not the password", limits=LIMITS)
    assert blocked.value.retry_after == pytest.approx(10, abs=1) and still.value.retry_after == pytest.approx(1, abs=1)
    _time_passes(db, 1)
    _wrong_passwords(db, 2)  # the 5th locks it
    assert list(users.statuses(db)) == ["alice"] and users.statuses(db)["alice"].startswith("locked until ")
    with pytest.raises(LoginThrottled) as locked:
        users.login(db, "alice", PASSWORD, limits=LIMITS)
    assert locked.value.retry_after == pytest.approx(LIMITS.lockout - LIMITS.backoff_max, abs=2)
    if lifted_by == "unlock":
        assert users.unlock(db, "alice", "admin") == LIMITS.lockout_after
    else:
        _time_passes(db, LIMITS.lockout)
    session = users.login(db, "alice", PASSWORD, limits=LIMITS)
    assert users.session_user(db, session.session_id) is not None
    assert _actions(db).count(("login", "login.locked")) == 1
    assert (("admin", "login.unlocked") in _actions(db)) is (lifted_by == "unlock")
    audit.seal(db)
    assert audit.verify(db).ok


def test_an_address_is_throttled_across_names_and_an_ipv6_client_by_its_64(db: Database) -> None:
    users.create_user(db, "alice", Role.REVIEWER, "test")
    users.set_password(db, "alice", PASSWORD, "admin")
    limits = LoginLimits(account_tries=100, address_tries=2, backoff=30)
    for source, name in [("2001:db8::1", "x"), ("2001:db8::2", "y")]:
        with pytest.raises(Unauthenticated):
            users.login(db, name, "x" * 2000, source=source, limits=limits)
    with pytest.raises(LoginThrottled) as refused:  # another host of the same /64, another name, the right password
        users.login(db, "alice", PASSWORD, source="2001:db8::ffff", limits=limits)
    assert refused.value.retry_after == pytest.approx(30, abs=1)
    users.login(db, "alice", PASSWORD, source="2001:db8:0:1::1", limits=limits)  # another /64
    assert _failures(db)[("address", "2001:db8::/64")] == 2
    assert [limits.delay("address", n) for n in (1, 2, 3, 4, 30)] == [0, 30, 60, 120, limits.backoff_max]


def test_an_over_long_password_is_not_hashed_and_writes_no_audit_event(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    users.create_user(db, "alice", Role.REVIEWER, "test")
    users.set_password(db, "alice", PASSWORD, "admin")
    before = _actions(db)
    monkeypatch.setattr(users, "_verify", lambda *_: pytest.fail("an over-long password was hashed"))
    for name in ("alice", "nobody"):
        with pytest.raises(Unauthenticated):
            users.login(db, name, "x" * (users.MAX_PASSWORD + 1), source="10.0.0.2")
    assert _actions(db) == before


def test_a_flood_of_unknown_names_adds_no_audit_event_and_its_counts_are_pruned(db: Database) -> None:
    users.create_user(db, "alice", Role.REVIEWER, "test")
    before = _actions(db)
    for i in range(150):  # distinct names from distinct addresses, none throttled
        with pytest.raises(Unauthenticated):
            users.login(db, f"intruder-{i}-" + "\u202e" * 300, "x" * 5000, source=f"10.1.{i // 100}.{i % 100}")
    assert _actions(db) == before
    assert len(_failures(db)) == 300 and all(len(subject) <= 100 for _, subject in _failures(db))
    _time_passes(db, LoginLimits().forget + 1)
    with pytest.raises(Unauthenticated):
        users.login(db, "nobody", "x" * 5000, source="10.2.0.1")
    assert _failures(db) == {("account", "nobody"): 1, ("address", "10.2.0.1"): 1}  # forgotten counts pruned


def test_a_deactivated_user_is_refused_at_once_everywhere_until_activated(db: Database) -> None:
    _, token = users.create_user(db, "alice", Role.REVIEWER, "test")
    users.set_password(db, "alice", PASSWORD, "admin")
    session = users.login(db, "alice", PASSWORD)
    assert users.set_active(db, "alice", False, "admin") is True
    assert users.set_active(db, "alice", False, "admin") is False  # no change, no event
    with pytest.raises(Unauthenticated, match="unknown or revoked"):
        users.authenticate(db, token)
    assert users.session_user(db, session.session_id) is None
    with pytest.raises(Unauthenticated, match="unknown user or wrong password"):
        users.login(db, "alice", PASSWORD)
    assert users.statuses(db) == {"alice": "deactivated"}
    assert users.set_active(db, "alice", True, "admin") is True
    assert users.authenticate(db, token).name == "alice"  # the tokens come back; the ended session does not
    assert users.session_user(db, session.session_id) is None
    assert [a for a in _actions(db) if a[1].startswith("user.") and a[1] != "user.created"] == [
        ("admin", "user.deactivated"),
        ("admin", "user.activated"),
    ]
    with pytest.raises(NotFound):
        users.set_active(db, "nobody", False, "admin")
    with db.transaction(write=False) as conn:
        assert conn.execute(select(func.count()).select_from(users_table)).scalar_one() == 1
