"""Webhooks: sealed audit events delivered to HTTP endpoints, in commit order, at least once.

The audit trail is the transactional outbox: an event exists exactly when its change committed, and the
sealer gives events a gap-free commit order (``seq``). Each webhook keeps a cursor (the last seq its endpoint
acknowledged with a 2xx); a failed delivery leaves the cursor and retries with exponential backoff, so nothing
acknowledged is lost and nothing is skipped. Receivers should ignore a ``seq`` they have already seen: after a
crash between the endpoint's answer and the cursor's update, a batch is sent again. A webhook configured later
starts at the events sealed from then on.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from signoff.config.flows import Project, Webhook
from signoff.store import audit as audit_store
from signoff.store import webhooks as store
from signoff.store.database import Database

log = logging.getLogger(__name__)

HOLD = timedelta(seconds=60)  # how long one process owns a delivery before another may retry it
MAX_BACKOFF = 300.0


@dataclass(frozen=True)
class Delivery:
    webhook: str
    events: int
    through_seq: int
    error: str | None = None


def matches(hook: Webhook, action: str) -> bool:
    """``*`` takes every event, ``task.*`` a family, anything else one action."""
    return any(p == "*" or p == action or (p.endswith(".*") and action.startswith(p[:-1])) for p in hook.events)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(db: Database, project: Project, client: httpx.Client | None = None, batch: int = 500) -> list[Delivery]:
    """One pass: each due webhook gets its next batch of matching sealed events in one POST."""
    done: list[Delivery] = []
    if not project.webhooks:
        return done
    own = client is None
    http = client or httpx.Client(timeout=10.0)
    try:
        for name, hook in project.webhooks.items():
            result = _one(db, name, hook, http, batch)
            if result is not None:
                done.append(result)
    finally:
        if own:
            http.close()
    return done


def _one(db: Database, name: str, hook: Webhook, http: httpx.Client, batch: int) -> Delivery | None:
    with db.transaction() as conn:
        now = db.now(conn)
        store.ensure(conn, name, audit_store.last_seq(conn), now)
        cursor = store.take(conn, name, now, HOLD)
    if cursor is None:
        return None  # not due yet, or another process is delivering it
    with db.transaction(write=False) as conn:
        rows = audit_store.sealed_after(conn, cursor.delivered_seq, batch)
    through = rows[-1].seq if rows else cursor.delivered_seq
    events = [_event(row) for row in rows if matches(hook, row.action)]
    error = _post(hook, name, events, http) if events else None
    with db.transaction() as conn:
        now = db.now(conn)
        if error is None:
            store.delivered(conn, name, through, now)
        else:
            backoff = min(MAX_BACKOFF, 2.0 ** min(cursor.attempts + 1, 10))
            store.failed(conn, name, error, now + timedelta(seconds=backoff), now)
            log.warning("webhook %s: delivery failed (%s); retrying in %.0f s", name, error, backoff)
    return Delivery(name, len(events), through if error is None else cursor.delivered_seq, error)


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


def _post(hook: Webhook, name: str, events: list[dict[str, Any]], http: httpx.Client) -> str | None:
    """POST the batch; the reason it failed, or None."""
    body = json.dumps({"webhook": name, "events": events}, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json"}
    if hook.secret_env:
        secret = os.environ.get(hook.secret_env)
        if not secret:
            return f"the environment variable {hook.secret_env} (the signing secret) is not set"
        headers["X-Signoff-Signature"] = signature(secret, body)
    try:
        response = http.post(hook.url, content=body, headers=headers)
    except httpx.HTTPError as error:
        return f"{type(error).__name__}: {error}"
    if not response.is_success:
        return f"HTTP {response.status_code} from {hook.url}"
    return None
