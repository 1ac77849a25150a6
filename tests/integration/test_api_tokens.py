"""API tokens verified once a second, not once a request, with revocation kept, on both databases."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import event, update

from signoff import users
from signoff.domain import Role
from signoff.errors import Unauthenticated
from signoff.store.database import Database
from signoff.store.schema import api_tokens


@pytest.fixture
def statements(db: Database) -> Iterator[list[str]]:
    """Every statement ``db`` runs from now on."""
    ran: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        ran.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    yield ran
    event.remove(db.engine, "before_cursor_execute", seen)


def _revoked_elsewhere(db: Database) -> None:
    """What ``signoff users token --revoke-others`` in another process does: the rows change, this process is not
    told."""
    with db.transaction() as conn:
        conn.execute(update(api_tokens).values(revoked_at=db.now(conn)))


def test_a_verified_token_is_not_looked_up_again_within_the_ttl(db: Database, statements: list[str]) -> None:
    _, token = users.create_user(db, "loader", Role.INTAKE, "test")
    assert users.verified(db, token) is None  # never verified yet: ask the database
    statements.clear()
    assert users.authenticate(db, token).name == "loader"
    looked_up = len(statements)
    assert looked_up >= 1
    assert users.authenticate(db, token).name == "loader"
    found = users.verified(db, token)
    assert found is not None and found.name == "loader"
    assert len(statements) == looked_up
    assert users.verified(db, "so_unknown") is None and users.verified(db, None) is None
    with pytest.raises(Unauthenticated, match="unknown or revoked"):  # unknown tokens are never remembered
        users.authenticate(db, "so_unknown")
    assert len(statements) > looked_up


def test_a_change_made_by_this_process_applies_at_once(db: Database) -> None:
    _, token = users.create_user(db, "loader", Role.INTAKE, "test")
    assert users.authenticate(db, token).name == "loader"
    users.set_active(db, "loader", False, "admin")
    assert users.verified(db, token) is None
    with pytest.raises(Unauthenticated):
        users.authenticate(db, token)
    users.set_active(db, "loader", True, "admin")
    assert users.authenticate(db, token).roles() == {Role.INTAKE}
    users.grant(db, "loader", Role.LEAD, [], "admin")
    assert users.authenticate(db, token).roles() == {Role.INTAKE, Role.LEAD}  # the new role, not the remembered one
    users.revoke(db, "loader", Role.LEAD, [], "admin")
    assert users.authenticate(db, token).roles() == {Role.INTAKE}
    newer = users.issue_token(db, "loader", "admin", revoke_others=True)
    with pytest.raises(Unauthenticated):
        users.authenticate(db, token)
    assert users.authenticate(db, newer).name == "loader"


def test_a_token_revoked_by_another_process_stops_working_within_the_ttl(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(users, "TOKEN_TTL", 0.5)
    _, token = users.create_user(db, "loader", Role.INTAKE, "test")
    assert users.authenticate(db, token).name == "loader"
    _revoked_elsewhere(db)
    assert users.authenticate(db, token).name == "loader"  # still believed: verified less than TOKEN_TTL ago
    time.sleep(0.6)
    assert users.verified(db, token) is None
    with pytest.raises(Unauthenticated, match="unknown or revoked"):
        users.authenticate(db, token)
