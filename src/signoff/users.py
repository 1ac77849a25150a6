"""Users, roles, API tokens, passwords and web sessions; what each role may do is one table of plain predicates."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Literal

# argon2-cffi: the maintained binding to the reference Argon2 implementation; Argon2id is OWASP's first choice for
# password storage. PasswordHasher's defaults are RFC 9106's low-memory profile (t=3, 64 MiB, p=4).
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection

from signoff.audit import record
from signoff.domain import ANY_FLOW, AuditEvent, Grant, Role, TaskId, User, UserId
from signoff.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem, Unauthenticated
from signoff.store import tasks as task_store
from signoff.store import users as store
from signoff.store.database import Database

Action = Literal[
    "submit_cases",
    "read_cases",
    "review",
    "list_tasks",
    "read_flows",
    "assign",
    "oversee",
    "read_metrics",
    "audit",
]

# What each role may do on the flows it is granted (a grant on "*" covers every flow). The flows a user may act
# on are the flows of their grants of an allowed role: ``scope``. "oversee" is seeing who reviewed what: other
# reviewers' names, answers and comments, gold tasks and gold accuracy, pauses and their reasons.
PERMISSIONS: dict[Action, tuple[Role, ...]] = {
    "submit_cases": (Role.ADMIN, Role.INTAKE),
    "read_cases": (Role.ADMIN, Role.INTAKE, Role.REVIEWER, Role.LEAD, Role.OWNER, Role.AUDITOR),
    "review": (Role.ADMIN, Role.REVIEWER, Role.LEAD),
    "list_tasks": (Role.ADMIN, Role.REVIEWER, Role.LEAD, Role.OWNER, Role.AUDITOR),
    "read_flows": (Role.ADMIN, Role.INTAKE, Role.REVIEWER, Role.LEAD, Role.OWNER, Role.AUDITOR),
    "assign": (Role.ADMIN, Role.LEAD),
    "oversee": (Role.ADMIN, Role.LEAD, Role.AUDITOR),
    "read_metrics": (Role.ADMIN, Role.LEAD, Role.OWNER, Role.AUDITOR),
    "audit": (Role.ADMIN, Role.AUDITOR),
}

TOKEN_PREFIX = "so_"  # noqa: S105  # a public prefix that makes leaked tokens easy to scan for


def may(user: User, action: Action, flow: str | None = None) -> bool:
    """Whether ``user`` may do ``action`` on ``flow``; with None, on at least one flow."""
    return not user.roles(flow).isdisjoint(PERMISSIONS[action])


def may_everywhere(user: User, action: Action) -> bool:
    """Whether a grant on every flow ("*") allows ``action``: needed where data of every flow is mixed (the
    audit trail as a whole)."""
    return any(g.flow == ANY_FLOW and g.role in PERMISSIONS[action] for g in user.grants)


def scope(user: User, action: Action, asked: str | None = None) -> frozenset[str] | None:
    """The flows on which ``user`` may do ``action``, narrowed to ``asked`` if given; None for every flow.
    Lists and counts read only these flows, so they never show what the caller may not see."""
    if may_everywhere(user, action):
        return None if asked is None else frozenset({asked})
    flows = frozenset(g.flow for g in user.grants if g.role in PERMISSIONS[action])
    return flows if asked is None else flows & {asked}


def in_scope(flows: frozenset[str] | None, flow: str) -> bool:
    return flows is None or flow in flows


def require(user: User, action: Action) -> None:
    """Refuse (403) a user whose roles allow ``action`` on no flow at all. One who may do it on some flows but
    not on the one asked about is told that the flow, case or task does not exist (404), exactly as for one that
    does not: ids must not tell which flows exist."""
    if not may(user, action):
        raise Forbidden(_roles_text(user), tuple(r.value for r in PERMISSIONS[action]))


def require_everywhere(user: User, action: Action) -> None:
    """Refuse (403) a user who may not do ``action`` on every flow: for what mixes every flow's data."""
    if not may_everywhere(user, action):
        raise Forbidden(
            _roles_text(user) + " on some flows only", tuple(f"{r.value} on *" for r in PERMISSIONS[action])
        )


def _roles_text(user: User) -> str:
    return ", ".join(sorted(r.value for r in user.roles())) or "none"


def parse_grants(role: Role, flows: Sequence[str]) -> list[Grant]:
    """Grants of ``role`` on these flows (none given: on every flow)."""
    problems = [Problem("flow", f"{f!r} is not a flow name") for f in flows if not _FLOW_NAME.fullmatch(f)]
    if problems:
        raise InvalidInput(problems, "no such flow")
    return [Grant(flow, role) for flow in (flows or [ANY_FLOW])]


_FLOW_NAME = re.compile(r"\*|[a-z0-9][a-z0-9_-]{0,62}")


def operator(name: str) -> User:
    """The command line's user: whoever runs it holds the database itself, so it acts as an admin on every flow
    (audited under ``name``). Id 0 is nobody's, so no check of "oneself" ever matches it."""
    return User(UserId(0), name, (Grant(ANY_FLOW, Role.ADMIN),))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_user(db: Database, name: str, role: Role, actor: str, flows: Sequence[str] = ()) -> tuple[User, str]:
    """Create a user holding ``role`` on these flows (none: on every flow) with a first API token; the token is
    shown once and only its hash is kept."""
    held = parse_grants(role, flows)
    token = new_token()
    with db.transaction() as conn:
        now = db.now(conn)
        user = store.create_user(conn, name, held, now)
        store.add_token(conn, user.id, hash_token(token), now)
        record(
            db,
            conn,
            [
                AuditEvent(
                    actor,
                    "user.created",
                    "user",
                    str(user.id),
                    {"name": name, "role": role.value, "flows": [g.flow for g in held]},
                ),
                AuditEvent(actor, "token.issued", "user", str(user.id), {"name": name}),
            ],
        )
    return user, token


def grant(db: Database, name: str, role: Role, flows: Sequence[str], actor: str) -> User:
    """Give a user ``role`` on these flows (none: on every flow); audited. Holding it already is no error."""
    held = parse_grants(role, flows)
    with db.transaction() as conn:
        now = db.now(conn)
        user = store.user_by_name(conn, name)
        added = [g.flow for g in held if store.add_grant(conn, user.id, g, now)]
        if added:
            record(
                db,
                conn,
                [
                    AuditEvent(
                        actor, "user.granted", "user", str(user.id), {"name": name, "role": role.value, "flows": added}
                    )
                ],
            )
        return store.user_by_id(conn, user.id)


def revoke(db: Database, name: str, role: Role, flows: Sequence[str], actor: str) -> User:
    """Take ``role`` on these flows (none: the grant on every flow) away from a user; audited. Their leases and
    assignments on flows they may no longer review go back to the queue. A user keeps at least one grant."""
    held = parse_grants(role, flows)
    with db.transaction() as conn:
        user = store.user_by_name(conn, name)
        missing = [g for g in held if g not in user.grants]
        if missing:
            raise NotFound("grant", f"{role.value} on {', '.join(g.flow for g in missing)} for {name}")
        if set(user.grants) <= set(held):
            raise Conflict(f"{name} would hold no role at all; grant another role first")
        for g in held:
            store.remove_grant(conn, user.id, g)
        after = store.user_by_id(conn, user.id)
        returned = _return_work(db, conn, after)
        record(
            db,
            conn,
            [
                AuditEvent(
                    actor,
                    "user.revoked",
                    "user",
                    str(user.id),
                    {
                        "name": name,
                        "role": role.value,
                        "flows": [g.flow for g in held],
                        "returned_tasks": returned,
                    },
                )
            ],
        )
        return after


def _return_work(db: Database, conn: Connection, user: User) -> list[int]:
    """Release the leases and assignments ``user`` holds on flows they may no longer review; their task ids."""
    keep = scope(user, "review")
    returned = []
    for task in task_store.held_by(conn, user.id):
        if in_scope(keep, task.flow):
            continue
        if task.lease_owner == user.id:
            task_store.release(db, conn, TaskId(task.id), task.lease_token, user.id)
        task_store.assign(conn, task.id, None)
        returned.append(int(task.id))
    return returned


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


MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # hashing is deliberately slow; refuse megabyte passwords before they reach it
SESSION_TTL = timedelta(hours=12)
_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified when the user is unknown or has no password, so that a failed login takes the same time either
    way. Made when the web UI starts (``prepare_logins``), not at import: hashing is slow on purpose, and every
    command imports this module."""
    return _hasher.hash(secrets.token_urlsafe(16))


def prepare_logins() -> None:
    """Make the dummy hash now, so that even the first failed login takes as long as any other."""
    _dummy_hash()


def new_password() -> str:
    return secrets.token_urlsafe(15)  # 120 random bits in 20 characters


def set_password(db: Database, name: str, password: str, actor: str) -> None:
    """Set a user's web login password (only its Argon2id hash is kept) and end their open web sessions."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(
            [Problem("password", f"must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long")], "password refused"
        )
    hashed = _hasher.hash(password)
    with db.transaction() as conn:
        now = db.now(conn)
        user = store.user_by_name(conn, name)
        store.set_password_hash(conn, user.id, hashed)
        ended = store.revoke_sessions(conn, user.id, now)
        record(db, conn, [AuditEvent(actor, "password.set", "user", str(user.id), {"name": name, "sessions": ended})])


@dataclass(frozen=True)
class Session:
    """A live web session: ``session_id`` goes in the cookie (only its hash is stored); ``csrf_token`` must come
    back with every state-changing request."""

    user: User
    session_id: str
    csrf_token: str


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def login(db: Database, name: str, password: str, *, source: str = "") -> Session:
    """Check a name and password and open a session. Every attempt is audited; a failure never says whether the
    user exists."""
    with db.transaction(write=False) as conn:
        found = store.login_row(conn, name[:100])
    ok = len(password) <= MAX_PASSWORD and _verify(found[1] if found else None, password)
    with db.transaction() as conn:
        now = db.now(conn)
        if found is None or not ok:
            entity_id = str(found[0].id) if found else name[:200]
            record(db, conn, [AuditEvent(name[:200] or "-", "login.failed", "user", entity_id, {"source": source})])
            failed = True
        else:
            user, hashed = found
            session = Session(user, secrets.token_urlsafe(32), secrets.token_urlsafe(32))
            store.add_session(conn, user.id, hash_token(session.session_id), session.csrf_token, now, now + SESSION_TTL)
            if hashed is not None and _hasher.check_needs_rehash(hashed):
                store.set_password_hash(conn, user.id, _hasher.hash(password))
            record(db, conn, [AuditEvent(user.name, "login", "user", str(user.id), {"source": source})])
            failed = False
    if failed:
        raise Unauthenticated("unknown user or wrong password")
    return session


def session_user(db: Database, session_id: str | None) -> tuple[User, str] | None:
    """The user and CSRF token of a live session, or None."""
    if not session_id:
        return None
    with db.transaction(write=False) as conn:
        return store.session_by_hash(conn, hash_token(session_id), db.now(conn))


def logout(db: Database, session_id: str) -> None:
    """Revoke the session (audited); logging out of a session that is not live does nothing."""
    with db.transaction() as conn:
        user_id = store.revoke_session(conn, hash_token(session_id), db.now(conn))
        if user_id is not None:
            name = store.user_by_id(conn, user_id).name
            record(db, conn, [AuditEvent(name, "logout", "user", str(user_id), {})])
