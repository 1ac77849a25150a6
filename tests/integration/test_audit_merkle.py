"""Merkle checkpoints on both databases: written outside the database, every event provable, every checkpoint
consistent with the next, and a rewritten-and-rehashed event named by its position."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path
from typing import Any

import fsspec
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from helpers.queues import reviewed
from helpers.scripted import scripted_project
from helpers.tampering import rehash, tamper
from signoff import audit, users
from signoff.api.app import create_app
from signoff.audit import checkpoints, merkle, transparency
from signoff.audit.note import NoteError
from signoff.config.flows import Checkpoints
from signoff.domain import AuditEvent, Role
from signoff.store import users as user_store
from signoff.store.database import Database
from signoff.web import security

ORIGIN = "bank.example/audit"


@pytest.fixture
def busy(db: Database, tmp_path: Path) -> Database:
    reviewed(db, tmp_path)
    audit.seal(db)
    return db


@pytest.fixture
def settings(tmp_path: Path) -> Checkpoints:
    checkpoints.write_keys(tmp_path / "audit.key", tmp_path / "audit.pub")
    return Checkpoints(
        url=str(tmp_path / "published"),
        origin=ORIGIN,
        public_key=str(tmp_path / "audit.pub"),
        private_key=str(tmp_path / "audit.key"),
        every_events=5,
        every_seconds=3600,
    )


def _keys(settings: Checkpoints) -> tuple[Any, Any]:
    assert settings.private_key is not None
    private = checkpoints.load_private_key(Path(settings.private_key))
    return private, checkpoints.load_public_key(Path(settings.public_key))


def _more(db: Database, n: int) -> None:
    with db.transaction() as conn:
        audit.record(db, conn, [AuditEvent("ada", "note.added", "note", str(i), {"i": i}) for i in range(n)])
    audit.seal(db)


def _sealed(db: Database) -> int:
    with db.transaction(write=False) as conn:
        return int(conn.execute(text("SELECT count(*) FROM audit_seals")).scalar_one())


def _verify(db: Database, settings: Checkpoints) -> transparency.CheckpointsReport:
    return transparency.verify_checkpoints(db, settings.url, _keys(settings)[1], ORIGIN)


def test_checkpoints_are_written_when_due_and_every_event_is_provable(busy: Database, settings: Checkpoints) -> None:
    private, public = _keys(settings)
    first = transparency.publish(busy, settings, private)  # the first one is due at once
    assert first is not None and first.size == _sealed(busy)
    assert transparency.publish(busy, settings, private) is None  # nothing new
    _more(busy, 4)
    assert transparency.publish(busy, settings, private) is None  # 4 new events: fewer than every_events
    _more(busy, 1)
    second = transparency.publish(busy, settings, private)
    assert second is not None and second.size == first.size + 5
    folder = Path(settings.url)
    assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == sorted([str(first.size), str(second.size)])
    assert (folder / "checkpoint").read_text(encoding="utf-8") == second.note
    assert second.note.startswith(f"{ORIGIN}\n{second.size}\n{base64.b64encode(second.root).decode()}\n\n— {ORIGIN} ")

    with busy.transaction(write=False) as conn:
        events = [int(e) for e in conn.execute(text("SELECT event_id FROM audit_seals ORDER BY seq")).scalars()]
    for event_id in events:  # every event, in the latest checkpoint and, if old enough, the first
        for size in (None, first.size):
            if size is not None and events.index(event_id) >= size:
                continue
            proof = transparency.prove(busy, event_id, size)
            assert "in bank.example/audit's checkpoint" in transparency.check_proof(proof, public)
    consistent = transparency.prove_consistency(busy, first.size)
    assert consistent["new_size"] == second.size
    assert "extends the one of" in transparency.check_proof(consistent, public)
    report = _verify(busy, settings)
    assert report.problem is None and (report.checked, report.largest) == (2, second.size)


def test_a_proof_made_by_the_database_with_a_wrong_leaf_or_a_dropped_element_is_refused(
    busy: Database, settings: Checkpoints
) -> None:
    private, public = _keys(settings)
    transparency.publish(busy, settings, private)
    proof = transparency.prove(busy, 3)
    truncated = {**proof, "proof": proof["proof"][:-1]}
    with pytest.raises(merkle.ProofError, match="fewer than the path"):
        transparency.check_proof(truncated, public)
    forged = {**proof, "leaf": base64.b64encode(b'[3,"forged"]').decode()}
    with pytest.raises(merkle.ProofError, match="another root"):
        transparency.check_proof(forged, public)
    resigned = {**proof, "checkpoint": proof["checkpoint"].replace(f"\n{proof['tree_size']}\n", "\n1\n")}
    with pytest.raises(NoteError, match="does not verify"):
        transparency.check_proof(resigned, public)


def test_an_event_rewritten_and_rehashed_by_a_superuser_is_named_by_the_checkpoints(
    busy: Database, settings: Checkpoints
) -> None:
    private, _ = _keys(settings)
    transparency.publish(busy, settings, private)
    _more(busy, 6)
    transparency.publish(busy, settings, private)
    assert _verify(busy, settings).problem is None
    tamper(busy, "UPDATE audit_events SET actor = 'mallory' WHERE id = 7")
    rehash(busy)
    assert audit.verify(busy).ok  # the chain alone no longer shows the edit...
    report = _verify(busy, settings)  # ...the first checkpoint that holds it does, and where
    assert report.problem is not None
    assert "audit event 7 (seal 7) is not what was signed" in report.problem
    assert report.problem.startswith(f"checkpoint checkpoints/{_first_size(settings)} ")


def _first_size(settings: Checkpoints) -> int:
    return min(int(p.name) for p in (Path(settings.url) / "checkpoints").iterdir())


def test_a_rewrite_that_also_rebuilt_the_stored_tree_is_still_caught_between_two_checkpoints(
    busy: Database, settings: Checkpoints
) -> None:
    private, _ = _keys(settings)
    first = transparency.publish(busy, settings, private)
    assert first is not None
    _more(busy, 6)
    transparency.publish(busy, settings, private)
    with busy.transaction(write=False) as conn:
        event = int(conn.execute(text(f"SELECT event_id FROM audit_seals WHERE seq = {first.size + 2}")).scalar_one())
    tamper(busy, f"UPDATE audit_events SET actor = 'mallory' WHERE id = {event}")
    rehash(busy)
    with busy.transaction() as conn:
        conn.execute(text("DELETE FROM audit_tree"))
    transparency.grow(busy)  # the tree rebuilt from the rewritten events
    report = _verify(busy, settings)
    assert report.problem is not None
    assert f"an event between seal {first.size + 1} and seal {first.size + 6} was changed" in report.problem


def test_an_edited_renamed_or_forked_checkpoint_is_named(busy: Database, settings: Checkpoints) -> None:
    private, _ = _keys(settings)
    first = transparency.publish(busy, settings, private)
    assert first is not None
    _more(busy, 5)
    transparency.publish(busy, settings, private)
    folder = Path(settings.url) / "checkpoints"
    older = folder / str(first.size)
    older.write_text(first.note.replace(f"\n{first.size}\n", f"\n{first.size - 1}\n"), encoding="utf-8")
    report = _verify(busy, settings)
    assert (
        report.problem
        == f"checkpoint checkpoints/{first.size}: signature line 1, by {ORIGIN}, does not verify: "
        + ("the note was altered")
    )
    older.write_text(first.note, encoding="utf-8")
    (folder / "1").write_text(first.note, encoding="utf-8")  # a copy under another tree size
    assert (_verify(busy, settings).problem or "").startswith("checkpoint checkpoints/1 signs a tree of")
    (folder / "1").unlink()
    from signoff.audit.note import Checkpoint, sign_checkpoint

    fork = sign_checkpoint(Checkpoint(ORIGIN, first.size, bytes(32)), private)  # signed with the key, another root
    older.write_text(fork, encoding="utf-8")
    found = _verify(busy, settings).problem or ""
    assert found.startswith(f"checkpoint checkpoints/{first.size} (size {first.size}): the events no longer give")


def test_checkpoints_go_to_an_object_store_url(busy: Database, settings: Checkpoints) -> None:
    private, _ = _keys(settings)
    stored = settings.model_copy(update={"url": f"memory://signoff-test-{busy.dialect}"})
    written = transparency.publish(busy, stored, private)
    assert written is not None
    fs = fsspec.filesystem("memory")
    assert fs.cat(f"/signoff-test-{busy.dialect}/checkpoint").decode() == written.note
    assert transparency.verify_checkpoints(busy, stored.url, _keys(settings)[1]).problem is None
    fs.rm(f"/signoff-test-{busy.dialect}", recursive=True)


def test_a_recorded_verification_holds_the_checkpoints_too(busy: Database, settings: Checkpoints) -> None:
    private, _ = _keys(settings)
    transparency.publish(busy, settings, private)
    check = transparency.checker(settings, busy)
    assert audit.verify_and_record(busy, "worker", check).ok
    tamper(busy, "UPDATE audit_events SET actor = 'mallory' WHERE id = 7")
    rehash(busy)
    audit.verify_and_record(busy, "worker", check)
    found = audit.last_verification(busy)
    assert found is not None and not found.intact
    assert found.breach is not None and "audit event 7 (seal 7) is not what was signed" in found.breach


def test_the_auditor_page_shows_the_latest_checkpoint_and_its_button_holds_the_events_to_them(
    busy: Database, settings: Checkpoints, tmp_path: Path
) -> None:
    (tmp_path / "site").mkdir()
    project = scripted_project(busy, tmp_path / "site").model_copy(update={"checkpoints": settings})
    auditor, _token = users.create_user(busy, "audra", Role.AUDITOR, "test")
    with busy.transaction() as conn:
        now = busy.now(conn)
        user_store.add_session(conn, auditor.id, users.hash_token("s"), "csrf", now, now + timedelta(hours=1))
    cookie = {"Cookie": f"{security.cookie_name(security.SESSION_COOKIE, False)}=s"}
    with TestClient(create_app(project)) as client:
        assert "No signed Merkle checkpoint written yet" in client.get("/audit", headers=cookie).text
        written = transparency.publish(busy, settings, _keys(settings)[0])
        assert written is not None
        page = client.get("/audit", headers=cookie).text
        assert f"Latest signed Merkle checkpoint:\n      {written.size} events" in page
        tamper(busy, "UPDATE audit_events SET actor = 'mallory' WHERE id = 7")
        rehash(busy)
        assert client.post("/audit/verify", headers=cookie, data={"csrf_token": "csrf"}).status_code == 200
        page = client.get("/audit", headers=cookie).text
    assert "<strong>Broken</strong> when audra verified it" in page
    assert "audit event 7 (seal 7) is not what was signed" in page
