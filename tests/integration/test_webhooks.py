"""Webhooks deliver sealed audit events in commit order, at least once, to a real HTTP endpoint: a failing
endpoint is retried with the cursor left where it was; a signature proves who sent them."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from helpers.queues import queued, reviewer
from signoff import audit, review
from signoff.audit.webhooks import deliver, matches
from signoff.config import Project
from signoff.config.flows import Webhook
from signoff.store.database import Database
from signoff.store.schema import webhook_cursors


class Receiver:
    """A local endpoint that records what it is sent and answers with ``status``."""

    def __init__(self) -> None:
        self.status = 200
        self.bodies: list[dict[str, Any]] = []
        self.signatures: list[str | None] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the name http.server calls
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.status == 200:
                    receiver.bodies.append(json.loads(raw))
                    receiver.signatures.append(self.headers.get("X-Signoff-Signature"))
                    receiver.raw = raw
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.raw = b""
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def actions(self) -> list[str]:
        return [e["action"] for body in self.bodies for e in body["events"]]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()
    found.server.server_close()


def _with_hook(project: Project, url: str, events: tuple[str, ...], secret_env: str | None = None) -> Project:
    return project.model_copy(update={"webhooks": {"leads": Webhook(url=url, events=events, secret_env=secret_env)}})


def _force_due(db: Database) -> None:
    with db.transaction() as conn:
        conn.execute(update(webhook_cursors).values(next_attempt_at=None))


def test_events_after_the_hook_is_configured_arrive_in_commit_order_filtered(
    db: Database, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    project = _with_hook(queued(db, tmp_path, 2), receiver.url, ("task.*", "case.decided"), "HOOK_SECRET")
    audit.seal(db)
    assert [d.events for d in deliver(db, project)] == [0]  # history before the hook is not sent
    alice = reviewer(db, "alice")
    got = review.claim(db, project, alice)
    assert got is not None
    review.submit(db, project, alice, got.task_id, got.token, "bad")
    audit.seal(db)
    assert deliver(db, project)[0].error is None
    assert receiver.actions() == ["task.claimed", "case.decided"]  # user.created and review.submitted filtered out
    seqs = [e["seq"] for e in receiver.bodies[0]["events"]]
    assert seqs == sorted(seqs)
    expected = "sha256=" + hmac.new(b"s3cret", receiver.raw, hashlib.sha256).hexdigest()
    assert receiver.signatures == [expected]


def test_a_failing_endpoint_is_retried_and_nothing_is_lost(db: Database, tmp_path: Path, receiver: Receiver) -> None:
    project = _with_hook(queued(db, tmp_path, 3), receiver.url, ("*",))
    audit.seal(db)
    deliver(db, project)
    alice = reviewer(db, "alice")
    got = review.claim(db, project, alice)
    assert got is not None
    audit.seal(db)
    receiver.status = 503
    failed = deliver(db, project)
    assert failed[0].error is not None and "HTTP 503" in failed[0].error
    assert deliver(db, project) == []  # backing off: not due yet
    receiver.status = 200
    _force_due(db)
    review.release(db, alice, got.task_id, got.token)
    audit.seal(db)
    assert deliver(db, project)[0].error is None
    assert receiver.actions() == ["user.created", "token.issued", "task.claimed", "task.released"]


def test_an_unset_signing_secret_is_a_delivery_error_not_an_unsigned_post(
    db: Database, tmp_path: Path, receiver: Receiver
) -> None:
    project = _with_hook(queued(db, tmp_path, 1), receiver.url, ("*",), "NO_SUCH_SECRET_VARIABLE")
    audit.seal(db)
    deliver(db, project)
    reviewer(db, "alice")
    audit.seal(db)
    result = deliver(db, project)
    assert result[0].error is not None and "NO_SUCH_SECRET_VARIABLE" in result[0].error
    assert receiver.bodies == []


@pytest.mark.parametrize(
    ("pattern", "action", "taken"),
    [("*", "x.y", True), ("task.*", "task.escalated", True), ("task.*", "taskx.y", False), ("a.b", "a.b", True)],
)
def test_patterns(pattern: str, action: str, taken: bool) -> None:
    assert matches(Webhook(url="http://x", events=(pattern,)), action) is taken
