"""Webhooks deliver sealed audit events in commit order, at least once, to a real HTTP endpoint, signed per the
Standard Webhooks specification and verified here by its reference package (``standardwebhooks``); the delivery
log keeps each message's attempts and last error, a dead letter waits for a replay by hand, and the SSRF guard
refuses a target the project file does not allow."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import standardwebhooks.webhooks as reference
from sqlalchemy import select, update

from helpers.queues import queued, reviewer
from helpers.webhooks import Receiver
from signoff import audit, net, review
from signoff.audit.webhooks import deliver, deliveries, matches, new_secret, replay
from signoff.config import Project
from signoff.config.flows import Network, Webhook
from signoff.errors import Conflict, NotFound
from signoff.store.database import Database
from signoff.store.schema import audit_events, webhook_deliveries


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def _with_hook(project: Project, url: str, events: tuple[str, ...] = ("*",), **settings: Any) -> Project:
    hook = Webhook(url=url, events=events, **settings)
    return project.model_copy(update={"webhooks": {"leads": hook}, "network": Network(allow=("127.0.0.1",))})


def _force_due(db: Database) -> None:
    with db.transaction() as conn:
        conn.execute(update(webhook_deliveries).values(next_attempt_at=None))


def _started(db: Database, project: Project) -> None:
    """The hook's cursor, created at the top of the sealed trail (history before the hook is not sent)."""
    audit.seal(db)
    assert deliver(db, project) == []


def _new_events(db: Database, name: str) -> None:
    reviewer(db, name)  # user.created, token.issued
    audit.seal(db)


def test_deliveries_are_signed_per_the_specification_with_every_active_secret(
    db: Database, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, current = new_secret(), new_secret()
    monkeypatch.setenv("HOOK_SECRET_OLD", old)
    monkeypatch.setenv("HOOK_SECRET", current)
    project = _with_hook(
        queued(db, tmp_path, 2), receiver.url, ("task.*", "case.decided"), secret_env=("HOOK_SECRET", "HOOK_SECRET_OLD")
    )
    _started(db, project)
    alice = reviewer(db, "alice")
    got = review.claim(db, project, alice)
    assert got is not None
    review.submit(db, project, alice, got.task_id, got.token, "bad")
    audit.seal(db)
    (sent,) = deliver(db, project)
    assert (sent.status, sent.attempts, sent.events, sent.last_error) == ("delivered", 1, 2, None)
    assert receiver.actions() == ["task.claimed", "case.decided"]  # user.created and review.submitted filtered out
    ((raw, headers),) = receiver.requests
    assert headers["webhook-id"] == sent.id and sent.id.startswith("msg_")
    assert len(headers["webhook-signature"].split(" ")) == 2  # one signature per active secret
    for secret in (old, current):  # a receiver holding either secret accepts it
        assert reference.Webhook(secret).verify(raw, headers) == json.loads(raw)
    with pytest.raises(reference.WebhookVerificationError, match="No matching signature"):
        reference.Webhook(new_secret()).verify(raw, headers)
    with pytest.raises(reference.WebhookVerificationError, match="No matching signature"):
        reference.Webhook(current).verify(raw.replace(b"bad", b"good"), headers)


def test_a_captured_delivery_replayed_after_the_tolerance_is_refused_a_replay_by_hand_is_not(
    db: Database, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = new_secret()
    monkeypatch.setenv("HOOK_SECRET", secret)
    project = _with_hook(queued(db, tmp_path, 1), receiver.url, secret_env="HOOK_SECRET")
    _started(db, project)
    _new_events(db, "alice")
    (sent,) = deliver(db, project)
    ((raw, headers),) = receiver.requests
    assert reference.Webhook(secret).verify(raw, headers)

    class Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Later:  # the receiver's clock, 5 minutes and 1 second on
            return cls.fromtimestamp(int(headers["webhook-timestamp"]) + 301, tz)

    with monkeypatch.context() as later:
        later.setattr(reference, "datetime", Later)
        with pytest.raises(reference.WebhookVerificationError, match="too old"):
            reference.Webhook(secret).verify(raw, headers)  # the captured request, sent again by someone else

    again = replay(db, project, "lead-1", sent.id)
    assert (again.status, again.attempts) == ("pending", 0)
    (resent,) = deliver(db, project)
    assert (resent.id, resent.status) == (sent.id, "delivered")
    raw2, headers2 = receiver.requests[-1]
    assert headers2["webhook-id"] == headers["webhook-id"]  # the same message: receivers deduplicate by its id
    assert raw2 == raw
    assert int(headers2["webhook-timestamp"]) >= int(headers["webhook-timestamp"])  # signed at its own attempt
    assert reference.Webhook(secret).verify(raw2, headers2)
    with db.transaction(write=False) as conn:
        actions = [row.action for row in conn.execute(select(audit_events.c.action))]
    assert "webhook.replayed" in actions


def test_a_failing_endpoint_is_retried_with_the_same_id_then_dead_lettered_and_replayed_by_hand(
    db: Database, tmp_path: Path, receiver: Receiver
) -> None:
    project = _with_hook(queued(db, tmp_path, 3), receiver.url, max_attempts=2)
    _started(db, project)
    _new_events(db, "alice")
    receiver.status = 503
    (first,) = deliver(db, project)
    assert (first.status, first.attempts) == ("pending", 1)
    assert first.last_error is not None and "HTTP 503" in first.last_error
    assert deliver(db, project) == []  # backing off: not due yet
    _force_due(db)
    (dead,) = deliver(db, project)
    assert (dead.id, dead.status, dead.attempts) == (first.id, "dead", 2)
    assert {h["webhook-id"] for _, h in receiver.requests} == {first.id}

    receiver.status = 200
    _new_events(db, "bob")  # the stream goes on past the dead letter
    (later,) = deliver(db, project)
    assert later.id != first.id and later.status == "delivered"
    assert later.first_seq > dead.last_seq
    assert [d.status for d in deliveries(db, status="dead")] == ["dead"]

    replay(db, project, "lead-1", dead.id)
    with pytest.raises(Conflict, match="pending already"):
        replay(db, project, "lead-1", dead.id)
    with pytest.raises(NotFound):
        replay(db, project, "lead-1", "msg_nope")
    (replayed,) = deliver(db, project)
    assert (replayed.id, replayed.status, replayed.attempts) == (dead.id, "delivered", 1)
    assert replayed.last_error is not None and "HTTP 503" in replayed.last_error  # the log keeps what went wrong
    sent = [headers["webhook-id"] for _, headers in receiver.requests]
    assert sent == [first.id, first.id, later.id, first.id]  # two failed attempts, the next delivery, the replay
    assert receiver.actions() == ["user.created", "token.issued"] * 4
    assert [d.id for d in deliveries(db)] == [later.id, first.id]  # latest events first
    assert [d.id for d in deliveries(db, webhook="leads", status="delivered", limit=1)] == [later.id]


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (None, "HOOK_SECRET (a signing secret) is not set"),
        ("s3cret", "does not start with whsec_"),
        ("whsec_!!notbase64", "is not base64"),
        ("whsec_c2hvcnQ=", "holds 5 bytes"),
    ],
)
def test_a_missing_or_malformed_secret_is_a_delivery_error_not_an_unsigned_post(
    db: Database, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, value: str | None, said: str
) -> None:
    if value is None:
        monkeypatch.delenv("HOOK_SECRET", raising=False)
    else:
        monkeypatch.setenv("HOOK_SECRET", value)
    project = _with_hook(queued(db, tmp_path, 1), receiver.url, secret_env="HOOK_SECRET")
    _started(db, project)
    _new_events(db, "alice")
    (failed,) = deliver(db, project)
    assert failed.status == "pending" and failed.last_error is not None and said in failed.last_error
    assert receiver.requests == []


def test_a_redirect_is_a_failure_never_followed(db: Database, tmp_path: Path, receiver: Receiver) -> None:
    receiver.status, receiver.location = 307, "http://169.254.169.254/latest/meta-data/"
    project = _with_hook(queued(db, tmp_path, 1), receiver.url)
    _started(db, project)
    _new_events(db, "alice")
    (failed,) = deliver(db, project)
    assert failed.last_error is not None
    assert "HTTP 307" in failed.last_error and "169.254.169.254/latest/meta-data/" in failed.last_error
    assert len(receiver.requests) == 1


def test_a_target_the_project_file_does_not_allow_is_refused_with_how_to_allow_it(
    db: Database, tmp_path: Path, receiver: Receiver
) -> None:
    project = _with_hook(queued(db, tmp_path, 1), receiver.url).model_copy(update={"network": Network()})
    _started(db, project)
    _new_events(db, "alice")
    (refused,) = deliver(db, project)
    assert refused.last_error is not None
    assert "refused to connect to 127.0.0.1, a loopback address" in refused.last_error
    assert 'network: allow: ["127.0.0.1"]' in refused.last_error
    assert receiver.requests == []


def test_a_guarded_client_checks_every_redirect_hop(receiver: Receiver) -> None:
    """An allowed host works; its redirect to the cloud metadata address is refused before any connection."""
    receiver.status, receiver.location = 302, "http://169.254.169.254/latest/meta-data/"
    with net.client(["127.0.0.1"], follow_redirects=True) as client:
        with pytest.raises(net.AddressRefused, match=r"169\.254\.169\.254, a cloud metadata address"):
            client.get(receiver.url)
        receiver.status, receiver.location = 200, ""
        assert client.get(receiver.url).status_code == 200
    assert len(receiver.requests) == 2
    with net.client(["localhost"]) as client, pytest.raises(httpx.ConnectError, match="loopback"):
        client.get(receiver.url)  # allowed by name only: localhost is not 127.0.0.1


def test_the_receiver_of_the_how_to_takes_a_delivery_once_and_refuses_a_forgery(
    db: Database,
    tmp_path: Path,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The Python block of docs/how-to/receive-webhooks.md, run as written against a real delivery."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "how-to" / "receive-webhooks.md").read_text("utf-8")
    (code,) = re.findall(r"```python\n(.*?)```", page, re.S)
    secret = new_secret()
    monkeypatch.setenv("SIGNOFF_HOOK_SECRET", secret)
    project = _with_hook(queued(db, tmp_path, 1), receiver.url, secret_env="SIGNOFF_HOOK_SECRET")
    _started(db, project)
    _new_events(db, "alice")
    deliver(db, project)
    ((raw, headers),) = receiver.requests
    namespace: dict[str, Any] = {}
    exec(compile(code, "receive-webhooks.md", "exec"), namespace)  # noqa: S102  # the page's own code
    receive = namespace["receive"]
    assert receive(raw, headers) == 204
    assert "user.created user" in capsys.readouterr().out
    assert receive(raw, headers) == 200  # the same webhook-id again: handled already
    assert receive(raw.replace(b"alice", b"mallory"), headers) == 400


@pytest.mark.parametrize(
    ("pattern", "action", "taken"),
    [("*", "x.y", True), ("task.*", "task.escalated", True), ("task.*", "taskx.y", False), ("a.b", "a.b", True)],
)
def test_patterns(pattern: str, action: str, taken: bool) -> None:
    assert matches(Webhook(url="http://x", events=(pattern,)), action) is taken
