"""Merkle checkpoints through the real command line: the worker writes one, an event is proved and the proof checked
with no database, the folder of checkpoints verified, and a rewritten-and-rehashed event named."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from helpers.processes import environment, ingested_example, signoff
from helpers.tampering import rehash
from signoff.store.database import Database

pytestmark = pytest.mark.slow  # runs signoff processes


def test_an_auditor_proves_an_event_and_verifies_the_checkpoints(tmp_path: Path) -> None:
    env = environment()
    project = ingested_example(tmp_path, env)
    keys = tmp_path / "keys"
    keys.mkdir()
    private, public = keys / "audit.key", keys / "audit.pub"
    assert (
        signoff("audit", "keygen", "--private-key", str(private), "--public-key", str(public), env=env).returncode == 0
    )
    with Path(project).open("a", encoding="utf-8") as file:
        file.write(
            "checkpoints:\n  url: published\n  origin: bank.example/audit\n"
            f"  public_key: {public}\n  private_key: {private}\n  every_events: 100\n"
        )
    p = ["-p", project]

    worked = signoff("worker", "--once", *p, env=env)
    assert worked.returncode == 0, worked.stderr
    folder = Path(project).parent / "published"
    latest = (folder / "checkpoint").read_text(encoding="utf-8")
    origin, size, _root = latest.split("\n")[:3]
    assert origin == "bank.example/audit" and (folder / "checkpoints" / size).read_text(encoding="utf-8") == latest

    proof = tmp_path / "proof.json"
    proved = signoff("audit", "prove", "5", "-o", str(proof), *p, env=env)
    assert proved.returncode == 0, proved.stderr
    assert json.loads(proof.read_text(encoding="utf-8"))["tree_size"] == int(size)
    held = signoff("audit", "check-proof", str(proof), "--public-key", str(public), env=env)
    assert held.returncode == 0, held.stderr
    assert f"event 5) is in bank.example/audit's checkpoint of {size} events" in held.stdout

    document = json.loads(proof.read_text(encoding="utf-8"))
    proof.write_text(json.dumps({**document, "proof": document["proof"][1:]}), encoding="utf-8")
    dropped = signoff("audit", "check-proof", str(proof), "--public-key", str(public), env=env)
    assert dropped.returncode == 1 and "fewer than the path" in dropped.stderr

    verified = signoff("audit", "verify", "--checkpoints", str(folder), "--public-key", str(public), *p, env=env)
    assert verified.returncode == 0, verified.stderr
    assert f"1 Merkle checkpoint(s) hold, the latest of {size} events" in verified.stdout

    db = Database(f"sqlite:///{Path(project).parent / 'signoff.db'}")
    raw = sqlite3.connect(Path(project).parent / "signoff.db")
    raw.execute("DROP TRIGGER audit_events_no_update")
    raw.execute("UPDATE audit_events SET actor = 'mallory' WHERE id = 9")
    raw.commit()
    raw.close()
    rehash(db)
    db.dispose()
    caught = signoff("audit", "verify", *p, env=env)  # the project's checkpoints, by default
    assert caught.returncode == 1
    assert f"checkpoint checkpoints/{size} (size {size})" in caught.stderr
    assert "audit event 9 (seal 9) is not what was signed" in caught.stderr
