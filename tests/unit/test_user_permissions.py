"""What each role may do, and how API tokens look and are stored."""

from __future__ import annotations

import pytest

from signoff.domain import ANY_FLOW, Grant, Role, User, UserId
from signoff.errors import Forbidden
from signoff.users import Action, hash_token, may, new_token, require, scope


def _user(role: Role, *flows: str) -> User:
    return User(UserId(1), f"a-{role.value}", tuple(Grant(f, role) for f in flows or (ANY_FLOW,)))


@pytest.mark.parametrize(
    ("role", "action", "allowed"),
    [
        (Role.INTAKE, "submit_cases", True),
        (Role.INTAKE, "review", False),
        (Role.INTAKE, "read_cases", True),
        (Role.REVIEWER, "review", True),
        (Role.REVIEWER, "submit_cases", False),
        (Role.REVIEWER, "list_tasks", True),
        (Role.AUDITOR, "read_cases", True),
        (Role.AUDITOR, "submit_cases", False),
        (Role.AUDITOR, "review", False),
        (Role.ADMIN, "submit_cases", True),
        (Role.ADMIN, "review", True),
    ],
)
def test_may_follows_the_permission_table(role: Role, action: Action, allowed: bool) -> None:
    assert may(_user(role), action) is allowed


def test_require_refuses_with_the_roles_that_are_allowed() -> None:
    with pytest.raises(Forbidden) as caught:
        require(_user(Role.AUDITOR), "review")
    assert caught.value.message == "role 'auditor' may not do this; allowed roles: admin, reviewer, lead"


def test_roles_hold_on_the_flows_they_are_granted_on() -> None:
    person = User(UserId(1), "fay", (Grant("credit", Role.LEAD), Grant("fraud", Role.REVIEWER)))
    assert may(person, "assign", "credit") and not may(person, "assign", "fraud")
    assert may(person, "review", "fraud") and not may(person, "review", "loans")
    assert may(person, "assign")  # on some flow
    assert scope(person, "review") == {"credit", "fraud"} and scope(person, "assign") == {"credit"}
    assert scope(person, "review", "loans") == frozenset()
    assert scope(_user(Role.REVIEWER), "review") is None  # every flow
    assert person.role is Role.LEAD and person.describe() == "lead on credit, reviewer on fraud"


def test_hash_token_is_the_sha256_hex_digest() -> None:
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_the_stored_hash_is_not_the_token() -> None:
    token = new_token()
    assert hash_token(token) != token
    assert token not in hash_token(token)


def test_new_tokens_carry_the_prefix_and_are_unique() -> None:
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    assert all(t.startswith("so_") and len(t) == 46 for t in tokens)
