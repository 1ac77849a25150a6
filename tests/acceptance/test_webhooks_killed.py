"""The worker killed with SIGKILL mid-delivery: after a restart every event is delivered at least once, and a
delivery sent again carries the same ``webhook-id`` (and the same body), so a receiver deduplicates by it.

``signoff worker`` runs as a real process and sends a webhook's first delivery to a local endpoint that holds the
request without answering; the worker is killed while it waits; more events commit meanwhile; a new worker sends
the held delivery again once its lease lapses, then the rest. Every request is verified by the Standard Webhooks
reference package."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import standardwebhooks
import yaml

from helpers.builders import flow_document
from helpers.processes import SIGNOFF, environment
from helpers.queues import reviewer
from helpers.webhooks import Receiver
from signoff import audit
from signoff.audit.webhooks import deliver, deliveries, new_secret
from signoff.config.flows import parse_project
from signoff.store import audit as audit_store
from signoff.store.database import Database

pytestmark = pytest.mark.slow  # starts and kills a worker process


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(hold_first=True)
    yield found
    found.close()


def _worker(project: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [SIGNOFF, "worker", "--poll", "60", "--project", str(project)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_a_worker_killed_mid_delivery_redelivers_with_the_same_id_and_loses_nothing(
    db: Database, tmp_path: Path, receiver: Receiver
) -> None:
    secret = new_secret()
    document = {
        "database_url": db.url,
        "flows": {"test-flow": flow_document()},
        "webhooks": {"leads": {"url": receiver.url, "events": ["*"], "secret_env": "HOOK_SECRET", "timeout": 1}},
        "network": {"allow": ["127.0.0.1"]},
    }
    path = tmp_path / "signoff.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    project = parse_project(document, path)
    audit.seal(db)
    assert deliver(db, project) == []  # the webhook's cursor, at the top of the trail
    with db.transaction(write=False) as conn:
        start = audit_store.last_seq(conn)
    for name in ("ann", "ben", "cat"):
        reviewer(db, name)
    audit.seal(db)
    env = environment(db.url) | {"HOOK_SECRET": secret}

    first = _worker(path, env)
    try:
        assert receiver.first.wait(60), "the worker never sent the first delivery"
        os.kill(first.pid, signal.SIGKILL)
        assert first.wait(timeout=10) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
    receiver.answer.set()
    for name in ("dan", "eve"):  # committed while no worker runs
        reviewer(db, name)
    audit.seal(db)
    with db.transaction(write=False) as conn:
        end = audit_store.last_seq(conn)

    second = _worker(path, env)
    try:
        deadline = time.monotonic() + 90  # the held delivery's lease lapses after 2 x timeout + 5 s
        while True:
            got = {e["seq"] for raw, _ in receiver.requests[1:] for e in json.loads(raw)["events"]}
            if got >= set(range(start + 1, end + 1)):
                break
            assert second.poll() is None, "the restarted worker ended"
            assert time.monotonic() < deadline, (
                f"not delivered after the restart: {set(range(start + 1, end + 1)) - got}"
            )
            time.sleep(0.2)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)

    verifier = standardwebhooks.Webhook(secret)
    for raw, headers in receiver.requests:
        verifier.verify(raw, headers)
    (held_raw, held), (again_raw, again) = receiver.requests[0], receiver.requests[1]
    assert again["webhook-id"] == held["webhook-id"]  # the same message, sent again
    assert again_raw == held_raw
    ids = [headers["webhook-id"] for _, headers in receiver.requests]
    assert len(set(ids)) == len(ids) - 1  # only the held one was sent twice
    log = deliveries(db)
    assert {d.status for d in log} == {"delivered"}
    assert sorted(d.id for d in log) == sorted(set(ids))
