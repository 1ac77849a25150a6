"""Webhooks: sealed audit events delivered to HTTP endpoints, in commit order, at least once, signed per the
Standard Webhooks specification (https://www.standardwebhooks.com, spec/standard-webhooks.md, version 1.0.0).

The audit trail is the transactional outbox: an event exists exactly when its change committed, and the sealer
gives events a gap-free commit order (``seq``). Each webhook has a cursor; one pass logs the next batch of
matching events as a delivery (its id, the ``webhook-id`` header, fixed from then on) and moves the cursor in the
same transaction, then sends it. A process killed before the answer is recorded leaves the delivery pending: it
is sent again with the same id once the lease lapses, so receivers deduplicate by ``webhook-id``. A failed
attempt is retried with exponential backoff; after the webhook's ``max_attempts`` the delivery is dead (a dead
letter) and the next one goes out; ``replay`` sends a delivery again by hand. Every attempt carries its own
``webhook-timestamp`` and is signed over ``{id}.{timestamp}.{body}`` with each active secret, so a captured
request replayed later is refused by receivers that check the timestamp's tolerance. Targets pass the SSRF guard
(``signoff.net``): redirects are failures, never followed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx

from signoff import net
from signoff.audit.service import record
from signoff.config.flows import Project, Webhook
from signoff.domain import AuditEvent
from signoff.errors import Conflict, NotFound
from signoff.store import audit as audit_store
from signoff.store import webhooks as store
from signoff.store.database import Database

log = logging.getLogger(__name__)

MAX_BACKOFF = 300.0
SECRET_PREFIX = "whsec_"  # noqa: S105  # the specification's prefix, not a secret
SECRET_BYTES = (24, 64)  # the specification's bounds for a symmetric key
Status = Literal["pending", "delivered", "dead"]
STATUSES: tuple[Status, ...] = ("pending", "delivered", "dead")


@dataclass(frozen=True)
class Delivery:
    """One message to a webhook: the sealed events ``first_seq`` to ``last_seq`` that match its ``events``."""

    id: str
    webhook: str
    first_seq: int
    last_seq: int
    events: int
    status: Status
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None


def matches(hook: Webhook, action: str) -> bool:
    """``*`` takes every event, ``task.*`` a family, anything else one action."""
    return any(p == "*" or p == action or (p.endswith(".*") and action.startswith(p[:-1])) for p in hook.events)


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(32)).decode()


def secret_key(secret: str) -> bytes:
    """The key of a ``whsec_`` secret, or ValueError saying what is wrong with it."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"does not start with {SECRET_PREFIX}")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error:
        raise ValueError(f"is not base64 after {SECRET_PREFIX}") from None
    if not SECRET_BYTES[0] <= len(key) <= SECRET_BYTES[1]:
        raise ValueError(f"holds {len(key)} bytes; a key has {SECRET_BYTES[0]} to {SECRET_BYTES[1]}")
    return key


def signature(keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header: ``v1,`` and the base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}`` under
    each key, space-separated (several while a secret is rotated out)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join("v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode() for key in keys)


def keys_of(hook: Webhook) -> list[bytes]:
    """The webhook's signing keys from its environment variables, or ValueError naming the variable at fault."""
    keys = []
    for variable in hook.secret_env:
        value = os.environ.get(variable)
        if not value:
            raise ValueError(f"the environment variable {variable} (a signing secret) is not set")
        try:
            keys.append(secret_key(value))
        except ValueError as error:
            raise ValueError(
                f"the environment variable {variable} {error}: a signing secret is {SECRET_PREFIX} followed by "
                f"{SECRET_BYTES[0]} to {SECRET_BYTES[1]} random bytes in base64 (`signoff webhooks secret` makes one)"
            ) from None
    return keys


def deliver(db: Database, project: Project, client: httpx.Client | None = None, batch: int = 500) -> list[Delivery]:
    """One pass: each webhook that is due sends its earliest pending delivery, or logs and sends the next one."""
    done: list[Delivery] = []
    for name, hook in project.webhooks.items():
        result = _one(db, name, hook, client, batch, project.network.allow)
        if result is not None:
            done.append(result)
    return done


def _hold(hook: Webhook) -> timedelta:
    """How long one process owns a webhook's sending: longer than an attempt may take."""
    return timedelta(seconds=2 * hook.timeout + 5)


def _one(
    db: Database, name: str, hook: Webhook, client: httpx.Client | None, batch: int, allow: Sequence[str]
) -> Delivery | None:
    with db.transaction() as conn:
        now = db.now(conn)
        store.ensure(conn, name, audit_store.last_seq(conn), now)
        cursor = store.take(conn, name, now, _hold(hook))
        if cursor is None:
            return None  # another process is sending it
        row = store.next_pending(conn, name)
        if row is None:
            found = audit_store.sealed_after(conn, cursor.logged_seq, batch)
            events = [_event(e) for e in found if matches(hook, e.action)]
            if not events:
                store.release(conn, name, now, found[-1].seq if found else None)
                return None
            msg_id = "msg_" + uuid.uuid4().hex
            row = store.log(conn, msg_id, name, events[0]["seq"], events[-1]["seq"], len(events), now)
            store.advance(conn, name, found[-1].seq)
        elif row.next_attempt_at is not None and row.next_attempt_at > now:
            store.release(conn, name, now)
            return None  # backing off
        else:
            found = audit_store.sealed_after(conn, row.first_seq - 1, row.last_seq - row.first_seq + 1)
            events = [_event(e) for e in found if matches(hook, e.action)]
    # a client only when there is something to send: making one (its TLS context) costs tens of milliseconds
    http = client or net.client(allow, timeout=hook.timeout)
    try:
        error = _post(hook, name, row.id, events, http, allow)
    finally:
        if client is None:
            http.close()
    with db.transaction() as conn:
        now = db.now(conn)
        attempts = row.attempts + 1
        retry_at = None
        if error is not None and attempts < hook.max_attempts:
            retry_at = now + timedelta(seconds=min(MAX_BACKOFF, 2.0**attempts))
        store.attempted(conn, row.id, error, now, retry_at)
        store.release(conn, name, now)
        if error is not None:
            after = f"retrying at {retry_at:%H:%M:%S}" if retry_at else f"a dead letter after {attempts} attempts"
            log.warning("webhook %s: delivery %s failed (%s); %s", name, row.id, error, after)
        return _delivery(store.get(conn, row.id))


def _event(row: Any) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "id": row.id,
        "at": row.at.isoformat(),
        "actor": row.actor,
        "action": row.action,
        "entity": row.entity,
        "entity_id": row.entity_id,
        "data": row.data,
    }


def _post(
    hook: Webhook, name: str, msg_id: str, events: list[dict[str, Any]], http: httpx.Client, allow: Sequence[str]
) -> str | None:
    """POST one attempt; the reason it failed, or None. The target is checked first by the URL as written (the
    guarded client checks it again at connect time, on the address it connects to)."""
    body = json.dumps({"webhook": name, "events": events}, separators=(",", ":")).encode()
    timestamp = int(time.time())
    headers = {"Content-Type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(timestamp)}
    try:
        if keys := keys_of(hook):
            headers["webhook-signature"] = signature(keys, msg_id, timestamp, body)
    except ValueError as error:
        return str(error)  # never sent unsigned
    try:
        net.checked(hook.url, allow)
        response = http.post(hook.url, content=body, headers=headers, follow_redirects=False)
    except httpx.HTTPError as error:
        return f"{type(error).__name__}: {error}"
    if response.is_redirect:
        where = response.headers.get("location")
        return f"HTTP {response.status_code} from {hook.url}: a redirect to {where}, not followed (set the url to it)"
    if not response.is_success:
        return f"HTTP {response.status_code} from {hook.url}"
    return None


def _delivery(row: Any) -> Delivery:
    return Delivery(**{name.name: getattr(row, name.name) for name in fields(Delivery)})


def deliveries(
    db: Database, webhook: str | None = None, status: Status | None = None, limit: int = 50
) -> list[Delivery]:
    """The delivery log, latest first."""
    with db.transaction(write=False) as conn:
        return [_delivery(row) for row in store.listed(conn, webhook, status, limit)]


def replay(db: Database, project: Project, actor: str, delivery_id: str) -> Delivery:
    """Send a delivery again (a dead letter, or one delivered before), with the same id and a fresh count of
    attempts; audited. It goes out before the webhook's later deliveries."""
    with db.transaction() as conn:
        row = store.get(conn, delivery_id)
        if row is None:
            raise NotFound("webhook delivery", delivery_id)
        if row.webhook not in project.webhooks:
            raise Conflict(
                f"webhook {row.webhook} is not in the project file any more: {delivery_id} has nowhere to go"
            )
        if row.status == store.PENDING:
            raise Conflict(f"delivery {delivery_id} is pending already: it is sent again without a replay")
        now = db.now(conn)
        store.replay(conn, delivery_id, now)
        record(
            db,
            conn,
            [AuditEvent(actor, "webhook.replayed", "webhook_delivery", delivery_id, {"webhook": row.webhook})],
            now,
        )
        return _delivery(store.get(conn, delivery_id))
