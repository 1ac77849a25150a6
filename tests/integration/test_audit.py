"""The audit chain on both databases: sealed in commit order, and any single-field edit is named."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from helpers.queues import reviewed, reviewer
from helpers.scripted import scripted_project
from helpers.tampering import rehash as _rehash
from helpers.tampering import tamper as _tamper
from signoff import audit, users
from signoff.api.app import create_app
from signoff.audit import checkpoints
from signoff.domain import AuditEvent, Role
from signoff.store import audit as audit_store
from signoff.store import users as user_store
from signoff.store.database import Database
from signoff.store.schema import audit_events, audit_seals
from signoff.web import security


@pytest.fixture
def busy(db: Database, tmp_path: Path) -> Database:
    reviewed(db, tmp_path)
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


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Any, Any]:
    checkpoints.write_keys(tmp_path / "audit.key", tmp_path / "audit.pub")
    return checkpoints.load_private_key(tmp_path / "audit.key"), checkpoints.load_public_key(tmp_path / "audit.pub")


def test_a_signed_checkpoint_catches_a_chain_rewritten_and_rehashed_by_a_superuser(
    busy: Database, keys: tuple[Any, Any]
) -> None:
    private, public = keys
    document = checkpoints.make(busy, private)  # seals first: the checkpoint covers every committed event
    assert document["seq"] == audit.verify(busy).checked and checkpoints.check(busy, document, public).ok
    _tamper(busy, "UPDATE audit_events SET actor = 'mallory' WHERE id = 7")
    assert not audit.verify(busy).ok
    _rehash(busy)
    assert audit.verify(busy).ok  # the chain alone no longer shows the edit...
    found = checkpoints.check(busy, document, public)  # ...the checkpoint, signed outside the database, does
    assert not found.ok and found.seq == document["seq"]
    assert found.why is not None and "rewritten and re-hashed" in found.why


def test_a_checkpoint_that_was_edited_or_signed_with_another_key_is_refused(
    busy: Database, keys: tuple[Any, Any], tmp_path: Path
) -> None:
    private, public = keys
    document = checkpoints.make(busy, private)
    edited = {**document, "seq": document["seq"] - 1}
    assert "signature does not verify" in (checkpoints.check(busy, edited, public).why or "")
    checkpoints.write_keys(tmp_path / "other.key", tmp_path / "other.pub")
    other = checkpoints.load_public_key(tmp_path / "other.pub")
    assert "signature does not verify" in (checkpoints.check(busy, document, other).why or "")


def test_a_checkpoint_past_the_end_of_the_chain_says_seals_were_removed(busy: Database, keys: tuple[Any, Any]) -> None:
    private, public = keys
    document = checkpoints.make(busy, private)
    _tamper(busy, f"DELETE FROM audit_seals WHERE seq = {document['seq']}")
    found = checkpoints.check(busy, document, public)
    assert found.why == f"the chain has no seal {document['seq']} any more: sealed events were removed"


def _event_of(db: Database, seq: int) -> int:
    with db.transaction(write=False) as conn:
        return int(conn.execute(text("SELECT event_id FROM audit_seals WHERE seq = :seq"), {"seq": seq}).scalar_one())


@pytest.mark.parametrize(
    "tampering",
    [
        None,
        "UPDATE audit_events SET actor = 'mallory' WHERE id = {first_event}",
        "DELETE FROM audit_events WHERE id = {first_event}",
        "DELETE FROM audit_seals WHERE seq = {first}",
        "DELETE FROM audit_seals WHERE seq = {first} - 1",
        "UPDATE audit_seals SET prev_hash = '{fake}' WHERE seq = {first}",
        "UPDATE audit_events SET entity_id = 'x' WHERE id = {middle_event}",
    ],
)
def test_checking_the_chain_in_spans_finds_what_one_pass_finds(busy: Database, tampering: str | None) -> None:
    """Three worker processes, with the tampering at the first seal of the second span (where a span must trust the
    previous hash it reads), just before it, or inside a span: the same report as a single pass, breach and count."""
    audit.seal(busy)
    with busy.transaction(write=False) as conn:
        last = audit_store.last_seq(conn)
    first = last // 3 + 1  # verify(jobs=3) cuts the chain after seals last // 3 and 2 * last // 3
    if tampering is not None:
        _tamper(
            busy,
            tampering.format(
                first=first,
                first_event=_event_of(busy, first),
                middle_event=_event_of(busy, first + 2),
                fake="f" * 64,
            ),
        )
    one_pass, in_spans = audit.verify(busy, jobs=1), audit.verify(busy, jobs=3)
    assert in_spans == one_pass
    assert one_pass.ok == (tampering is None)
    assert one_pass.checked == (last if tampering is None else one_pass.breach.seq - 1)  # type: ignore[union-attr]


def _record_with_id(db: Database, event_id: int) -> None:
    with db.transaction() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_events (id, at, actor, action, entity, entity_id, data) "
                "VALUES (:id, :at, 'late', 'task.claimed', 'task', '1', :data)"
            ),
            {"id": event_id, "at": db.now(conn), "data": "{}"},
        )


def test_a_routine_seal_looks_near_the_top_of_the_chain_and_a_full_one_everywhere(
    busy: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event that commits far below the highest sealed id (as a very long transaction's would) waits for a full
    look, which seals it after the others; routine runs and the lag metric look only near the top."""
    monkeypatch.setattr(audit_store, "LATE_WINDOW", 10)
    audit.seal(busy)
    with busy.transaction(write=False) as conn:
        top = int(conn.execute(text("SELECT MAX(id) FROM audit_events")).scalar_one())
    _record_with_id(busy, top + 100)
    assert audit.seal(busy) == 1
    _record_with_id(busy, top + 1)  # 99 ids below the highest sealed event
    assert audit.seal(busy) == 0
    assert audit.verify(busy).unsealed == 1
    with busy.transaction(write=False) as conn:
        assert audit_store.lag(conn)[0] == 0  # where the sealer routinely looks, nothing waits
    assert audit.seal(busy, full=True) == 1
    report = audit.verify(busy)
    assert report.ok and report.unsealed == 0
    with busy.transaction(write=False) as conn:
        last = conn.execute(text("SELECT event_id FROM audit_seals ORDER BY seq DESC LIMIT 1")).scalar_one()
    assert last == top + 1  # chained after the others


def _old_event(db: Database, seconds: float, data: Any = None) -> None:
    """An event recorded ``seconds`` ago and not sealed."""
    with db.transaction() as conn:
        at = db.now(conn) - timedelta(seconds=seconds)
        audit.record(db, conn, [AuditEvent("test", "test.event", "case", "1", data or {})], at=at)


def test_an_event_no_canonical_writer_could_encode_is_sealed_and_the_chain_goes_on(sqlite_url: str) -> None:
    """A lone surrogate reaches SQLite escaped in JSON text (its JSON type takes it; PostgreSQL's jsonb refuses it),
    and so can a NaN. Both once stopped every sealing round at that event, forever."""
    db = Database(sqlite_url)
    try:
        _old_event(db, 0, {"skills": ["x\ud800"], "score": float("nan")})
        _old_event(db, 0, {"after": "it"})
        assert audit.seal(db) == 2
        report = audit.verify(db)
        assert report.ok and report.checked == 2 and report.unsealed == 0
        _tamper(db, 'UPDATE audit_events SET data = \'{"skills": ["x\\udbff"], "score": NaN}\' WHERE id = 1')
        assert audit.verify(db).breach == audit.Breach(
            1, 1, "its content was altered after it was sealed (hash mismatch)"
        )
    finally:
        db.dispose()


def test_a_sealer_that_makes_no_progress_is_reported_until_the_events_are_sealed(db: Database) -> None:
    _old_event(db, audit.service.STALLED_AFTER + 30)
    stall = audit.stalled(db)
    assert stall is not None and stall.unsealed == 1 and stall.oldest_age > audit.service.STALLED_AFTER
    report = audit.verify(db)
    assert report.breach is None and report.stall is not None and not report.ok
    assert "audit sealing has stalled: 1 event(s) not sealed" in str(report.stall)
    recorded = audit.verify_and_record(db, "auditor")
    assert not recorded.ok
    found = audit.last_verification(db)
    assert found is not None and not found.intact and found.stall == str(report.stall)

    audit.seal(db)
    assert audit.stalled(db) is None and audit.verify(db).ok


def test_an_event_that_names_a_key_twice_is_reported_not_hashed_one_way(sqlite_url: str) -> None:
    """Python's JSON reader keeps a repeated key's last value and SQLite's json_extract the first: rewritten so, a
    sealed event said one thing to the chain and another to SQL, and the chain still verified."""
    db = Database(sqlite_url)
    try:
        _old_event(db, 0, {"label": "approve"})
        audit.seal(db)
        _tamper(db, 'UPDATE audit_events SET data = \'{"label": "deny", "label": "approve"}\' WHERE id = 1')
        with db.transaction(write=False) as conn:
            assert conn.execute(text("SELECT json_extract(data, '$.label') FROM audit_events")).scalar() == "deny"
        breach = audit.verify(db).breach
        assert breach is not None and breach.event_id == 1 and "names 'label' twice" in breach.why
    finally:
        db.dispose()


def test_an_event_written_back_dated_is_reported_where_it_was_sealed(db: Database) -> None:
    _old_event(db, 0)
    audit.seal(db)
    _old_event(db, 365 * 24 * 3600)  # a year before the seal ahead of it was made
    _old_event(db, 0)
    audit.seal(db)
    breach = audit.verify(db).breach
    assert breach is not None and (breach.seq, breach.event_id) == (2, 2) and "written back-dated" in breach.why


def test_events_sealed_late_after_a_long_transaction_are_not_called_back_dated(db: Database) -> None:
    _old_event(db, 0)
    audit.seal(db)
    _old_event(db, 30 * 60)  # a transaction that read its time half an hour before it committed
    audit.seal(db)
    assert audit.verify(db).ok


# Event data a chain must hash exactly as it always has: text that JSON escapes or leaves as itself, keys whose
# sorted order differs from their written one, numbers of every kind, nesting.
PUBLISHED_DATA: list[dict[str, Any]] = [
    {"z": 1, "a": 2, "é": "ünïcödé", "\u2028": "line\u2029separator", "日本": "語"},
    {"quote": 'say "hi"\\', "control": "tab\there\nnew\rline\x01\x1f", "slash": "a/b"},
    {"float": 0.1, "tiny": 1e-05, "huge": 1e16, "neg": -0.0, "int": 2**62, "big": 2**70, "exp": 6.02e23},
    {"nested": {"b": [1, {"d": None, "c": True}], "a": False}, "empty": {}, "list": []},
    {},
]


def test_a_chain_sealed_by_the_published_definition_still_verifies(db: Database) -> None:
    """The hash of every seal is SHA-256 over the previous hash and ``json.dumps([id, at, actor, action, entity,
    entity_id, data], sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` in UTF-8 (docs/explanation/
    audit-trail.md), computed here from the events as stored: the sealer must still make exactly those hashes, and a
    check of the chain, in one pass or in spans, must still accept them, or every chain sealed before would fail."""
    for i, data in enumerate(PUBLISHED_DATA):
        with db.transaction() as conn:
            audit.record(db, conn, [AuditEvent(f"actor-{i} ✓", "test.published", "case", str(i), data)])
    assert audit.seal(db) == len(PUBLISHED_DATA)
    with db.transaction(write=False) as conn:
        rows = conn.execute(
            select(audit_events, audit_seals.c.seq, audit_seals.c.prev_hash, audit_seals.c.hash.label("seal"))
            .join(audit_seals, audit_seals.c.event_id == audit_events.c.id)
            .order_by(audit_seals.c.seq)
        ).all()
    prev = audit.GENESIS
    for row in rows:
        at = row.at.astimezone(UTC).isoformat(timespec="microseconds")
        published = json.dumps(
            [row.id, at, row.actor, row.action, row.entity, row.entity_id, row.data],
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        assert (row.prev_hash, row.seal) == (prev, hashlib.sha256((prev + published).encode()).hexdigest())
        prev = row.seal
    assert len(rows) == len(PUBLISHED_DATA)  # (PostgreSQL's jsonb keeps 1e16 as 10000000000000000: hashed as stored)
    for jobs in (1, 2):
        report = audit.verify(db, jobs=jobs)
        assert report.ok and report.checked == len(PUBLISHED_DATA)


def test_the_auditor_page_metrics_and_readiness_never_recompute_the_chain(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check of the chain reads every event (seconds per million): pages and scrapes show the latest recorded
    verification and the sealing lag near the top of the chain instead. Reading the chain here fails the test."""
    project = scripted_project(db, tmp_path)
    auditor, _token = users.create_user(db, "audra", Role.AUDITOR, "test")
    with db.transaction() as conn:
        now = db.now(conn)
        ends = now + timedelta(hours=1)
        user_store.add_session(conn, auditor.id, users.hash_token("audra-session"), "csrf", now, ends)
    cookie = {"Cookie": f"{security.cookie_name(security.SESSION_COOKIE, False)}=audra-session"}
    audit.seal(db)

    def refused(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the whole chain was read")

    with TestClient(create_app(project)) as client:
        monkeypatch.setattr(audit_store, "chain", refused)
        page = client.get("/audit", headers=cookie)
        assert page.status_code == 200 and "Nobody has verified the chain here yet." in page.text
        assert client.get("/metrics").status_code == 200
        assert client.get("/readyz").status_code == 200
        monkeypatch.undo()
        assert client.post("/audit/verify", headers=cookie, data={"csrf_token": "csrf"}).status_code == 200
        monkeypatch.setattr(audit_store, "chain", refused)
        page = client.get("/audit", headers=cookie)
    assert page.status_code == 200 and "<strong>Intact</strong> when audra verified it" in page.text


def _bytes_literal(db: Database, body: bytes) -> str:
    return f"X'{body.hex()}'" if db.dialect == "sqlite" else f"decode('{body.hex()}', 'hex')"


def _kept_bytes(db: Database, seq: int) -> bytes:
    with db.transaction(write=False) as conn:
        return bytes(conn.execute(select(audit_seals.c.body).where(audit_seals.c.seq == seq)).scalar_one())


def test_the_database_vouches_for_every_seal_of_an_intact_chain(busy: Database) -> None:
    """Each seal keeps the bytes it hashed, and the database itself checks them against the hash and the event's
    columns: of an intact chain only the first seal comes back (it follows none), to be checked in Python."""
    audit.seal(busy)
    with busy.transaction(write=False) as conn:
        bodies = [(link.body, audit.row_body(link.event_id, link)) for link in audit_store.chain(busy, conn)]
        found = [
            [
                check.link.seq
                for check in audit_store.chain_check(
                    busy,
                    conn,
                    after=after,
                    upto=audit_store.MAX_SEQ,
                    encoding=1,
                    times=(timedelta(hours=1), timedelta(minutes=5)),
                    digest=audit.chained,
                )
            ]
            for after in (0, 1)
        ]
    assert [kept for kept, _ in bodies] == [canonical for _, canonical in bodies]
    assert found == [[1], []]


@pytest.mark.parametrize("where", ["inside", "at a span's first seal"])
def test_altering_the_kept_bytes_of_a_seal_is_detected_and_named(busy: Database, where: str) -> None:
    audit.seal(busy)
    with busy.transaction(write=False) as conn:
        seq = 7 if where == "inside" else audit_store.last_seq(conn) // 3 + 1
    body = _kept_bytes(busy, seq).replace(b'"', b"'", 1)
    _tamper(busy, f"UPDATE audit_seals SET body = {_bytes_literal(busy, body)} WHERE seq = {seq}")
    for jobs in (1, 3):
        report = audit.verify(busy, jobs=jobs)
        assert report.breach is not None and (report.breach.seq, report.checked) == (seq, seq - 1)
        assert report.breach.why == "the canonical bytes kept with its seal were altered (hash mismatch)"


def test_an_event_altered_and_its_kept_bytes_made_to_match_without_rehashing_is_detected(busy: Database) -> None:
    audit.seal(busy)
    event = _event_of(busy, 7)
    _tamper(busy, f"UPDATE audit_events SET actor = 'mallory' WHERE id = {event}")
    with busy.transaction(write=False) as conn:
        (link,) = audit_store.chain(busy, conn, after=6, upto=7)
    assert link.actor == "mallory"
    body = audit.row_body(link.event_id, link)
    _tamper(busy, f"UPDATE audit_seals SET body = {_bytes_literal(busy, body)} WHERE seq = 7")
    report = audit.verify(busy)
    assert report.breach is not None and (report.breach.event_id, report.checked) == (event, 6)
    assert "altered" in report.breach.why


@pytest.mark.parametrize("alter_event", [False, True])
def test_a_seal_without_kept_bytes_is_checked_from_its_event(busy: Database, alter_event: bool) -> None:
    """Where the bytes are missing (a seal the upgrade could not vouch for, or bytes removed), the event's columns
    are hashed as before: removing the bytes neither breaks an intact chain nor hides an altered event."""
    audit.seal(busy)
    _tamper(busy, "UPDATE audit_seals SET body = NULL WHERE seq = 7")
    if alter_event:
        _tamper(busy, f"UPDATE audit_events SET action = 'case.deleted' WHERE id = {_event_of(busy, 7)}")
    report = audit.verify(busy)
    assert report.ok != alter_event
    if alter_event:
        assert report.breach is not None and report.breach.seq == 7 and report.breach.why == audit.service.ALTERED


def test_events_recorded_with_data_in_another_form_are_checked_exactly(busy: Database) -> None:
    """Events whose stored JSON is not in canonical form (written before it was, or by hand) are not vouched for by
    SQLite's comparison of text: they are checked in Python, and still verify or fail exactly."""
    with busy.transaction() as conn:
        at = busy.now(conn)
        for data in ('{"b": 1, "a": [1.0, "\\u00e9"]}', '{ "z" : null }'):
            conn.execute(
                text(
                    "INSERT INTO audit_events (at, actor, action, entity, entity_id, data) "
                    "VALUES (:at, 'by-hand', 'test.event', 'case', '1', :data)"
                ),
                {"at": at, "data": data},
            )
    last = audit.seal(busy)
    assert audit.verify(busy).ok and audit.verify(busy, jobs=2).checked == last
    event = _event_of(busy, last)
    value = "'{\"z\": 0}'" if busy.dialect == "sqlite" else "'{\"z\": 0}'::jsonb"
    _tamper(busy, f"UPDATE audit_events SET data = {value} WHERE id = {event}")
    report = audit.verify(busy)
    assert report.breach is not None and (report.breach.event_id, report.checked) == (event, last - 1)


@pytest.mark.parametrize("empty_database_url", ["sqlite", "postgresql"], indirect=True)
def test_the_upgrade_keeps_the_bytes_of_every_seal_sealed_before_it(empty_database_url: str) -> None:
    """Seals made before the bytes were kept get them from their event, in batches; a seal whose event had already
    been altered gets none, and the check of the chain still names that event."""
    from signoff.store import migrate

    db = Database(empty_database_url)
    try:
        migrate.upgrade(db, "0023")
        prev = audit.GENESIS
        with db.transaction() as conn:
            at = db.now(conn)
            for i, data in enumerate([*PUBLISHED_DATA, {"n": 1}, {"n": 2}]):
                audit.record(db, conn, [AuditEvent(f"actor-{i}", "test.event", "case", str(i), data)], at=at)
            rows = conn.execute(select(*audit_store.EVENT_COLUMNS).order_by(audit_events.c.id)).all()
            for seq, row in enumerate(rows, 1):
                digest = audit.event_hash(prev, event_id=row.id, **{c: getattr(row, c) for c in row._fields[1:]})
                conn.execute(
                    text(
                        "INSERT INTO audit_seals (seq, event_id, prev_hash, hash, sealed_at, encoding) "
                        "VALUES (:seq, :id, :prev, :hash, :at, 1)"
                    ),
                    {"seq": seq, "id": row.id, "prev": prev, "hash": digest, "at": at},
                )
                prev = digest
        altered = rows[-1].id
        _tamper(db, f"UPDATE audit_events SET entity_id = 'x' WHERE id = {altered}")
        migrate.upgrade(db)
        with db.transaction(write=False) as conn:
            kept = conn.execute(select(audit_seals.c.body).order_by(audit_seals.c.seq)).scalars().all()
            links = list(audit_store.chain(db, conn))
        assert kept[-1] is None
        assert kept[:-1] == [audit.row_body(link.event_id, link) for link in links[:-1]]
        report = audit.verify(db)
        assert report.breach is not None and (report.breach.event_id, report.checked) == (altered, len(rows) - 1)
        assert report.breach.why == audit.service.ALTERED
    finally:
        db.dispose()
