"""Users, roles, API tokens, passwords and web sessions; what each role may do is one table of plain predicates."""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Literal, NamedTuple

# argon2-cffi: the maintained binding to the reference Argon2 implementation; Argon2id is OWASP's first choice for
# password storage. PasswordHasher's defaults are RFC 9106's low-memory profile (t=3, 64 MiB, p=4).
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection

from signoff.audit import change, record
from signoff.domain import ANY_FLOW, AuditEvent, Grant, Role, User, UserId
from signoff.errors import Conflict, Forbidden, InvalidInput, LimitReached, NotFound, Problem, Unauthenticated
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
    "record_outcomes",
    "resolve_labels",
    "manage_models",
]

# What each role may do on the flows it is granted (a grant on "*" covers every flow). The flows a user may act
# on are the flows of their grants of an allowed role: ``scope``. "oversee" is seeing who reviewed what: other
# reviewers' names, answers and comments, gold tasks and gold accuracy, pauses and their reasons. Outcomes come
# from the services that learn them (intake) or the model owner; label conflicts (which show who answered what)
# are checked and resolved by whoever is accountable for the labels: the lead of the floor or the model owner.
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
    "record_outcomes": (Role.ADMIN, Role.INTAKE, Role.OWNER),
    "resolve_labels": (Role.ADMIN, Role.LEAD, Role.OWNER),
    "manage_models": (Role.ADMIN, Role.OWNER),
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


def _grants(user: User) -> dict[str, Any]:
    """What an audit event shows of a user's roles: their grants, sorted."""
    return {
        "grants": [
            {"role": g.role.value, "flow": g.flow} for g in sorted(user.grants, key=lambda g: (g.role.value, g.flow))
        ]
    }


def _tokens(count: int) -> dict[str, Any]:
    """What an audit event shows of a user's API tokens: how many are live, never a token or its hash."""
    return {"live_tokens": count}


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
                    {"name": name, "role": role.value, "flows": [g.flow for g in held]}
                    | change(None, {"name": name, "active": True} | _grants(user)),
                ),
                AuditEvent(
                    actor, "token.issued", "user", str(user.id), {"name": name} | change(_tokens(0), _tokens(1))
                ),
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
        granted = store.user_by_id(conn, user.id)
        if added:
            data = {"name": name, "role": role.value, "flows": added} | change(_grants(user), _grants(granted))
            record(db, conn, [AuditEvent(actor, "user.granted", "user", str(user.id), data)])
    _verified.forget()
    return granted


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
                    }
                    | change(_grants(user), _grants(after)),
                )
            ],
        )
    _verified.forget()
    return after


def _return_work(db: Database, conn: Connection, user: User) -> list[int]:
    """Release the leases and assignments ``user`` holds on flows they may no longer review; their task ids."""
    keep = scope(user, "review")
    returned: list[int] = []
    for task in task_store.held_by(conn, user.id):
        if in_scope(keep, task.flow):
            continue
        if task.lease_owner == user.id:
            task_store.release(db, conn, task.id, task.lease_token, user.id)
        task_store.assign(conn, task.id, None)
        returned.append(task.id)
    return returned


def issue_token(db: Database, name: str, actor: str, *, revoke_others: bool = False) -> str:
    token = new_token()
    with db.transaction() as conn:
        now = db.now(conn)
        user = store.user_by_name(conn, name)
        live = store.live_tokens(conn, user.id)
        revoked = store.revoke_tokens(conn, user.id, now) if revoke_others else 0
        store.add_token(conn, user.id, hash_token(token), now)
        data = {"name": name, "revoked": revoked} | change(_tokens(live), _tokens(live - revoked + 1))
        record(db, conn, [AuditEvent(actor, "token.issued", "user", str(user.id), data)])
    if revoked:
        _verified.forget()
    return token


TOKEN_TTL = 1.0  # seconds a verified token is believed without asking the database again
_MAX_VERIFIED = 10_000  # tokens remembered at most; past it all are forgotten (each costs one look-up again)


class _Verified:
    """API tokens this process verified in the last ``TOKEN_TTL`` seconds, by database and token hash, each with its
    user: a client's requests then cost one look-up a second, not one each. Only tokens that were valid are kept
    (a token issued elsewhere works at once). A token revoked, or a user deactivated or given other roles, by this
    process is forgotten as the change commits; by another process (the command line, another server), it stops
    working here within ``TOKEN_TTL``. ``generation`` keeps a look-up that read the database before a change
    committed from remembering what it read."""

    def __init__(self) -> None:
        self.users: dict[tuple[str, str], tuple[float, User]] = {}
        self.generation = 0
        self._lock = threading.Lock()  # a put never lands between a change's forget and the next look-up

    def get(self, key: tuple[str, str]) -> User | None:
        found = self.users.get(key)
        return found[1] if found is not None and time.monotonic() - found[0] < TOKEN_TTL else None

    def put(self, key: tuple[str, str], user: User, generation: int, read_at: float) -> None:
        with self._lock:
            if generation == self.generation:
                if len(self.users) >= _MAX_VERIFIED:
                    self.users.clear()
                self.users[key] = (read_at, user)

    def forget(self) -> None:
        """After a change to tokens, roles or a user's activity commits."""
        with self._lock:
            self.generation += 1
            self.users.clear()


_verified = _Verified()


def verified(db: Database, token: str | None) -> User | None:
    """The user of a token verified within ``TOKEN_TTL`` seconds, without asking the database (so without waiting):
    None means ask ``authenticate``."""
    return _verified.get((db.url, hash_token(token))) if token else None


def authenticate(db: Database, token: str | None) -> User:
    if not token:
        raise Unauthenticated("an API token is required: send 'Authorization: Bearer <token>'")
    key = (db.url, hash_token(token))
    if (user := _verified.get(key)) is not None:
        return user
    generation, read_at = _verified.generation, time.monotonic()
    with db.transaction(write=False) as conn:
        user = store.user_by_token_hash(conn, key[1])
    if user is None:
        raise Unauthenticated("the API token is unknown or revoked")
    _verified.put(key, user, generation, read_at)
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


ACCOUNT, ADDRESS = "account", "address"  # the two scopes of login throttling
NAME_MAX = 100  # users.name's width: no longer name can be a user's


@dataclass(frozen=True)
class LoginLimits:
    """How failed logins slow down the next tries, per account name and per client address.

    After ``account_tries`` failures on a name (``address_tries`` from an address), each failure blocks the next
    try for ``backoff`` seconds, doubling up to ``backoff_max``. At ``lockout_after`` failures a name is locked for
    ``lockout`` seconds, or until ``signoff users unlock``. Failures are forgotten ``forget`` seconds after the last
    one, and a login forgets its name's. A blocked try is refused before any hashing and does not count."""

    account_tries: int = 5
    address_tries: int = 20
    lockout_after: int = 10
    backoff: float = 1.0
    backoff_max: float = 900.0
    lockout: float = 3600.0
    forget: float = 86_400.0

    def delay(self, scope: str, failures: int) -> float:
        """Seconds that ``failures`` failures block the name or address for (0: the next try may come at once)."""
        if scope == ACCOUNT and failures >= self.lockout_after:
            return self.lockout
        tries = self.account_tries if scope == ACCOUNT else self.address_tries
        return 0.0 if failures < tries else min(self.backoff * 2.0 ** min(failures - tries, 60), self.backoff_max)


class LoginThrottled(LimitReached):
    """Too many failed logins for this name or from this address: refused without looking at the password."""


def address_key(source: str) -> str:
    """The client address that logins are counted by: an IPv6 client by its /64, which one host usually owns."""
    try:
        address = ipaddress.ip_address(source)
    except ValueError:
        return source[:NAME_MAX]
    return str(ipaddress.ip_network(f"{address}/64", strict=False)) if address.version == 6 else str(address)


@dataclass(frozen=True)
class LoginAttempt:
    """A login allowed to try: the name's user and password hash if there is such an active user."""

    name: str
    source: str
    found: tuple[User, str | None] | None

    @property
    def throttles(self) -> list[store.Throttle]:
        account = (ACCOUNT, self.name[:NAME_MAX])
        return [account, (ADDRESS, address_key(self.source))] if self.source else [account]


class PasswordCheck(NamedTuple):
    ok: bool
    rehashed: str | None  # a new hash with today's parameters, when the stored one is outdated


def start_login(db: Database, name: str, source: str = "") -> LoginAttempt:
    """Refuse a blocked name or address (``LoginThrottled``) before any hashing; find the user otherwise."""
    attempt = LoginAttempt(name, source, None)
    with db.transaction(write=False) as conn:
        now = db.now(conn)
        until = store.blocked_until(conn, attempt.throttles, now)
        if until is not None:
            wait = (until - now).total_seconds()
            raise LoginThrottled(f"too many failed logins: try again in {_duration(wait)}", retry_after=wait)
        found = store.login_row(conn, name) if len(name) <= NAME_MAX else None
    return LoginAttempt(name, source, found)


def check_password(attempt: LoginAttempt, password: str) -> PasswordCheck:
    """The slow part of a login (Argon2id, 64 MiB): the caller chooses where it runs. An over-long password is
    refused without hashing."""
    if len(password) > MAX_PASSWORD:
        return PasswordCheck(False, None)
    hashed = attempt.found[1] if attempt.found else None
    if not _verify(hashed, password):
        return PasswordCheck(False, None)
    assert hashed is not None
    return PasswordCheck(True, _hasher.hash(password) if _hasher.check_needs_rehash(hashed) else None)


def finish_login(db: Database, attempt: LoginAttempt, check: PasswordCheck, limits: LoginLimits) -> Session:
    """Open a session (audited, the name's failures forgotten), or count the failure against the name and the
    address. Failures are not audited one by one: only a lockout of an existing user is."""
    with db.transaction() as conn:
        now = db.now(conn)
        if attempt.found is None or not check.ok:
            _count_failure(db, conn, attempt, now, limits)
            session = None
        else:
            user = attempt.found[0]
            session = Session(user, secrets.token_urlsafe(32), secrets.token_urlsafe(32))
            store.add_session(conn, user.id, hash_token(session.session_id), session.csrf_token, now, now + SESSION_TTL)
            if check.rehashed is not None:
                store.set_password_hash(conn, user.id, check.rehashed)
            store.forget_login_failures(conn, attempt.throttles[0])
            record(db, conn, [AuditEvent(user.name, "login", "user", str(user.id), {"source": attempt.source})])
    if session is None:
        raise Unauthenticated("unknown user or wrong password")
    return session


def _count_failure(db: Database, conn: Connection, attempt: LoginAttempt, now: datetime, limits: LoginLimits) -> None:
    forget_before = now - timedelta(seconds=limits.forget)
    store.prune_login_failures(conn, forget_before, now)
    for key in attempt.throttles:
        failures = store.count_login_failure(db, conn, key, now, forget_before)
        delay = limits.delay(key[0], failures)
        if delay > 0:
            store.block_login(conn, key, now + timedelta(seconds=delay))
        if key[0] == ACCOUNT and failures >= limits.lockout_after and attempt.found is not None:
            user = attempt.found[0]
            data = {"name": user.name, "failures": failures, "seconds": delay, "source": attempt.source}
            record(db, conn, [AuditEvent("login", "login.locked", "user", str(user.id), data)])


def login(db: Database, name: str, password: str, *, source: str = "", limits: LoginLimits = LoginLimits()) -> Session:
    """Check a name and password and open a session, all in the calling thread (the web UI runs the hashing in a
    pool of its own: ``signoff.web.logins``). A failure never says whether the user exists."""
    attempt = start_login(db, name, source)
    return finish_login(db, attempt, check_password(attempt, password), limits)


def unlock(db: Database, name: str, actor: str) -> int:
    """Forget a user's failed logins and lift their lockout or backoff (audited); returns the failures forgotten."""
    with db.transaction() as conn:
        user = store.user_by_name(conn, name)
        forgotten = store.forget_login_failures(conn, (ACCOUNT, name))
        record(
            db, conn, [AuditEvent(actor, "login.unlocked", "user", str(user.id), {"name": name, "failures": forgotten})]
        )
    return forgotten


def set_active(db: Database, name: str, active: bool, actor: str) -> bool:
    """Activate or deactivate a user (audited). A deactivated user's API tokens and web sessions stop working at
    once (tokens verified by another server process within ``TOKEN_TTL``), and their sessions end; their tokens
    work again if they are activated. False if nothing changed."""
    with db.transaction() as conn:
        now = db.now(conn)
        user = store.user_by_name(conn, name)
        if not store.set_active(conn, user.id, active):
            return False
        ended = 0 if active else store.revoke_sessions(conn, user.id, now)
        action = "user.activated" if active else "user.deactivated"
        data = {"name": name, "sessions": ended} | change({"active": not active}, {"active": active})
        record(db, conn, [AuditEvent(actor, action, "user", str(user.id), data)])
    _verified.forget()
    return True


def statuses(db: Database) -> dict[str, str]:
    """Users who cannot log in now for a reason an admin can lift, by name: deactivated, or locked out until a
    time (by a lockout or a backoff; ``unlock`` lifts either)."""
    with db.transaction(write=False) as conn:
        blocked = store.blocked(conn, ACCOUNT, db.now(conn))
        locked = {name: f"locked until {until:%Y-%m-%d %H:%M:%S} UTC" for name, until in blocked.items()}
        return locked | dict.fromkeys(store.inactive_names(conn), "deactivated")


def _duration(seconds: float) -> str:
    seconds = max(1, math.ceil(seconds))
    return f"{seconds} s" if seconds < 120 else f"{math.ceil(seconds / 60)} min"


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
