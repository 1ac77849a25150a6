"""``signoff users deactivate | activate | unlock`` through the real command line, audited, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.builders import make_project
from helpers.processes import environment, signoff
from signoff import audit, users
from signoff.domain import Role
from signoff.errors import Unauthenticated
from signoff.store.database import Database

pytestmark = pytest.mark.slow  # runs signoff processes

PASSWORD = "a long enough password"


def test_an_admin_deactivates_activates_and_unlocks_users(db: Database, tmp_path: Path) -> None:
    project = ["-p", str(make_project(tmp_path, db.url).path)]
    env = environment()
    _, token = users.create_user(db, "alice", Role.REVIEWER, "test")
    users.set_password(db, "alice", PASSWORD, "test")
    limits = users.LoginLimits(lockout_after=1)
    with pytest.raises(Unauthenticated):
        users.login(db, "alice", "not the password", limits=limits)

    listed = signoff("users", "list", *project, env=env)
    assert listed.returncode == 0 and "locked" in listed.stdout, listed.stderr
    unlocked = signoff("users", "unlock", "alice", *project, env=env)
    assert unlocked.returncode == 0 and "alice may log in again (1 failed logins forgotten)." in unlocked.stdout
    users.login(db, "alice", PASSWORD, limits=limits)

    deactivated = signoff("users", "deactivate", "alice", *project, env=env)
    assert deactivated.returncode == 0 and "alice is deactivated." in deactivated.stdout, deactivated.stderr
    with pytest.raises(Unauthenticated):
        users.authenticate(db, token)
    assert "deactivated" in signoff("users", "list", *project, env=env).stdout
    again = signoff("users", "deactivate", "alice", *project, env=env)
    assert again.returncode == 0 and "alice was already deactivated." in again.stdout
    activated = signoff("users", "activate", "alice", *project, env=env)
    assert activated.returncode == 0 and "alice is active." in activated.stdout
    assert users.authenticate(db, token).name == "alice"
    unknown = signoff("users", "deactivate", "nobody", *project, env=env)
    assert unknown.returncode == 1 and "user 'nobody' does not exist" in unknown.stderr

    events = [e.action for e in audit.sealed_events(db)]
    assert events.count("login.locked") == 1
    assert [e for e in events if e in ("login.unlocked", "user.deactivated", "user.activated")] == [
        "login.unlocked",
        "user.deactivated",
        "user.activated",
    ]
    assert audit.verify(db).ok
