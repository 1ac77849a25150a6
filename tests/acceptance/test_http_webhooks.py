"""The webhook delivery log and replays end to end: a running app delivers to a failing endpoint until the delivery
is a dead letter; a lead on every flow sees it in the API and on the lead page, replays it over HTTP and from the
real command line, and each replay arrives with the same ``webhook-id``, signed and verified by the Standard
Webhooks reference package. Others are refused."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import standardwebhooks
import yaml
from fastapi.testclient import TestClient

from helpers.builders import flow_document
from helpers.processes import environment, signoff
from helpers.webhooks import Receiver
from signoff import audit, users
from signoff.api.app import create_app
from signoff.audit.webhooks import deliver, new_secret, secret_key
from signoff.config.flows import parse_project
from signoff.domain import Role
from signoff.store import users as user_store
from signoff.store.database import Database
from signoff.web import security

pytestmark = pytest.mark.slow  # a running app delivering, and signoff processes

DELIVERIES = "/api/v1/webhooks/deliveries"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def _until(check: Callable[[], Any], what: str, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return found


def test_a_dead_letter_seen_and_replayed_over_http_and_from_the_command_line(
    db: Database, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = new_secret()
    monkeypatch.setenv("HOOK_SECRET", secret)
    document = {
        "database_url": db.url,
        "flows": {"test-flow": flow_document()},
        "webhooks": {
            "leads": {"url": receiver.url, "events": ["user.*"], "secret_env": "HOOK_SECRET", "max_attempts": 1}
        },
        "network": {"allow": ["127.0.0.1"]},
    }
    path = tmp_path / "signoff.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    project = parse_project(document, path)
    receiver.status = 503
    audit.seal(db)
    assert deliver(db, project) == []  # the webhook's cursor, at the top of the trail
    lead, lead_token = users.create_user(db, "lead-all", Role.LEAD, "test")
    _, auditor_token = users.create_user(db, "auditor-all", Role.AUDITOR, "test")
    _, local_lead = users.create_user(db, "lead-one", Role.LEAD, "test", ["test-flow"])
    with TestClient(create_app(project)) as client:  # seals the three user.created, delivers them together
        as_lead = {"Authorization": f"Bearer {lead_token}"}

        def dead() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = client.get(f"{DELIVERIES}?status=dead", headers=as_lead).json()["deliveries"]
            return found

        (letter,) = _until(dead, "a dead letter")
        assert letter["webhook"] == "leads" and letter["attempts"] == 1 and letter["events"] == 3
        assert letter["last_error"] == f"HTTP 503 from {receiver.url}" and letter["delivered_at"] is None
        for token in (auditor_token, local_lead):  # another role, or the lead role on one flow only
            refused = client.get(DELIVERIES, headers={"Authorization": f"Bearer {token}"})
            assert refused.status_code == 403, refused.text
            replayed = client.post(f"{DELIVERIES}/{letter['id']}/replay", headers={"Authorization": f"Bearer {token}"})
            assert replayed.status_code == 403, replayed.text

        session = _session(db, lead)
        page = client.get("/lead", headers={"Cookie": session})
        assert page.status_code == 200
        assert f'<tr id="delivery-{letter["id"]}">' in page.text and "dead" in page.text
        assert f"HTTP 503 from {receiver.url}" in page.text

        receiver.status = 200
        again = client.post(f"{DELIVERIES}/{letter['id']}/replay", headers=as_lead)
        assert again.status_code == 200 and again.json()["status"] == "pending", again.text
        refused = client.post(f"{DELIVERIES}/{letter['id']}/replay", headers=as_lead)
        assert refused.status_code == 409 and "pending already" in refused.json()["error"]["message"]

        def delivered() -> list[dict[str, Any]]:
            found = client.get(f"{DELIVERIES}?status=delivered", headers=as_lead).json()["deliveries"]
            return [d for d in found if d["id"] == letter["id"] and d["attempts"] == 1]

        _until(delivered, "the replay")
        env = environment(db.url) | {"HOOK_SECRET": secret}
        listed = signoff("webhooks", "deliveries", "--status", "delivered", "-p", str(path), env=env)
        assert listed.returncode == 0 and letter["id"] in listed.stdout, listed.stderr
        replayed = signoff("webhooks", "replay", letter["id"], "-p", str(path), env=env)
        assert replayed.returncode == 0, replayed.stderr
        assert f"Delivery {letter['id']} to leads" in replayed.stdout and "pending again" in replayed.stdout
        _until(lambda: len(receiver.requests) >= 3, "the replay from the command line")
        unknown = signoff("webhooks", "replay", "msg_nope", "-p", str(path), env=env)
        assert unknown.returncode == 1 and "msg_nope" in unknown.stderr
        bad = signoff("webhooks", "deliveries", "--status", "lost", "-p", str(path), env=env)
        assert bad.returncode == 2 and "pending, delivered, dead" in bad.stderr

    ids = [headers["webhook-id"] for _, headers in receiver.requests]
    assert ids == [letter["id"]] * 3  # the dead attempt, the HTTP replay, the command line's
    verifier = standardwebhooks.Webhook(secret)
    for raw, headers in receiver.requests:
        assert [e["action"] for e in verifier.verify(raw, headers)["events"]] == ["user.created"] * 3


def test_a_new_secret_from_the_command_line_is_a_valid_key() -> None:
    made = signoff("webhooks", "secret", env=environment())
    assert made.returncode == 0, made.stderr
    assert len(secret_key(made.stdout.strip())) == 32


def _session(db: Database, person: Any) -> str:
    """The Cookie header of a live web session for ``person`` (made directly: logging in hashes slowly)."""
    session = f"session-{person.name}"
    with db.transaction() as conn:
        now = db.now(conn)
        user_store.add_session(conn, person.id, users.hash_token(session), "csrf", now, now + timedelta(hours=1))
    return f"{security.cookie_name(security.SESSION_COOKIE, False)}={session}"
