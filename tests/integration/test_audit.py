"""The audit chain on both databases: sealed in commit order, and any single-field edit is named."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from helpers.queues import queued, reviewer
from signoff import audit, review
from signoff.store.database import Database


def _tamper(db: Database, sql: str) -> None:
    """Edit the audit table as its owner would, with the append-only trigger and foreign keys out of the way."""
    if db.dialect == "postgresql":
        with db.transaction() as conn:
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            conn.execute(text("ALTER TABLE audit_seals DROP CONSTRAINT fk_audit_seals_event_id_audit_events"))
            conn.execute(text(sql))
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
        return
    db.dispose()
    raw = sqlite3.connect(db.url.removeprefix("sqlite:///"))
    raw.execute("PRAGMA foreign_keys=OFF")
    raw.execute("DROP TRIGGER audit_events_no_update")
    raw.execute("DROP TRIGGER audit_events_no_delete")
    raw.execute(sql)
    raw.commit()
    raw.close()


@pytest.fixture
def busy(db: Database, tmp_path: Path) -> Database:
    project = queued(db, tmp_path, 5)
    alice = reviewer(db, "alice")
    for _ in range(3):
        got = review.claim(db, project, alice)
        assert got is not None
        review.submit(db, project, alice, got.task_id, got.token, "good")
    return db


def test_an_untouched_chain_verifies(busy: Database) -> None:
    assert audit.verify(busy).unsealed > 0
    sealed = audit.seal(busy)
    report = audit.verify(busy)
    assert report.ok and report.unsealed == 0 and report.checked == sealed
    assert audit.seal(busy) == 0


@pytest.mark.parametrize(
    ("column", "value"),
    [("actor", "'mallory'"), ("action", "'case.deleted'"), ("entity_id", "'999'"), ("entity", "'task'")],
)
def test_editing_any_field_of_one_event_is_detected_and_named(busy: Database, column: str, value: str) -> None:
    audit.seal(busy)
    _tamper(busy, f"UPDATE audit_events SET {column} = {value} WHERE id = 7")
    report = audit.verify(busy)
    assert report.breach is not None
    assert (report.breach.event_id, report.checked) == (7, 6)
    assert "altered" in str(report.breach)


def test_editing_the_data_or_time_of_an_event_is_detected(busy: Database) -> None:
    audit.seal(busy)
    data = '\'{"label": "bad"}\'' if busy.dialect == "sqlite" else '\'{"label": "bad"}\'::jsonb'
    _tamper(busy, f"UPDATE audit_events SET data = {data} WHERE id = 9")
    assert audit.verify(busy).breach is not None and audit.verify(busy).breach.event_id == 9  # type: ignore[union-attr]


def test_deleting_an_event_is_detected(busy: Database) -> None:
    audit.seal(busy)
    _tamper(busy, "DELETE FROM audit_events WHERE id = 4")
    report = audit.verify(busy)
    assert report.breach is not None
    assert (report.breach.event_id, report.breach.why) == (4, "the event was deleted")


def test_events_committed_after_sealing_are_chained_after_the_others(busy: Database, tmp_path: Path) -> None:
    first = audit.seal(busy)
    reviewer(busy, "carol")
    assert audit.seal(busy) == 2  # user.created and token.issued
    report = audit.verify(busy)
    assert report.ok and report.checked == first + 2


def test_a_recorded_verification_says_who_found_what_and_how_much_was_sealed_after(busy: Database) -> None:
    assert audit.last_verification(busy) is None
    sealed = audit.seal(busy)
    assert audit.verify_and_record(busy, "audra").ok
    first = audit.last_verification(busy)
    assert first is not None
    assert (first.actor, first.intact, first.breach, first.checked, first.unsealed) == ("audra", True, None, sealed, 0)
    assert first.sealed_since == 0 and first.seconds >= 0
    audit.seal(busy)  # the verification's own event is sealed after it
    later = audit.last_verification(busy)
    assert later is not None and later.sealed_since == 1 and later.at == first.at


def test_a_recorded_verification_of_a_tampered_chain_says_where_it_broke(busy: Database) -> None:
    audit.seal(busy)
    audit.verify_and_record(busy, "audra")
    _tamper(busy, "UPDATE audit_events SET actor = 'mallory' WHERE id = 7")
    assert not audit.verify_and_record(busy, "ada").ok
    found = audit.last_verification(busy)
    assert found is not None and (found.actor, found.intact, found.checked) == ("ada", False, 6)
    assert found.breach is not None and found.breach.startswith("audit event 7 (seal 7)")
