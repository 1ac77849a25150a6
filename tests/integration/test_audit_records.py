"""What an auditor takes away, on both databases: a case's record with names and its sealed events, the
sealed trail exported so that its hashes recheck outside Signoff, and the reviewer's view of earlier
decisions on the same entity (index-backed, gold left out)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from helpers.builders import flow_document, make_project
from helpers.queues import reviewer
from signoff import audit, intake, review
from signoff.audit.chain import GENESIS, event_hash
from signoff.errors import InvalidInput
from signoff.intake import FlowRuntime, validate_case
from signoff.store.database import Database
from signoff.web.workspace import Workspace


def _flow() -> dict[str, object]:
    document = flow_document()
    document["fields"]["customer"] = {"type": "string", "required": False}  # type: ignore[index]
    document["entity"] = "customer"
    return document


def _submit(db: Database, runtime: FlowRuntime, score: float, customer: str | None, external_id: str) -> None:
    fields: dict[str, object] = {"score": score, "group": "a"}
    if customer is not None:
        fields["customer"] = customer
    case, problems = validate_case(runtime.flow, external_id, fields, "case")
    assert case is not None, problems
    intake.submit(db, runtime, [case], "tester")


def test_a_case_history_names_people_and_marks_its_events_sealed(db: Database, tmp_path: Path) -> None:
    project = make_project(tmp_path, db.url, flows={"test-flow": _flow()})
    runtime = intake.prepare(db, project)["test-flow"]
    _submit(db, runtime, 0.5, "c-1", "x1")
    alice = reviewer(db, "alice")
    claim = review.claim(db, project, alice)
    assert claim is not None
    review.submit(db, project, alice, claim.task_id, claim.token, "bad", "=HYPERLINK(evil)")
    assert audit.case_history(db, 10**9) is None

    before = audit.case_history(db, claim.case_id)
    assert before is not None
    actions = [e["action"] for e in before["events"]]
    assert actions == ["case.submitted", "task.claimed", "review.submitted", "case.decided"]
    assert all(e["seq"] is None for e in before["events"])  # nothing sealed yet
    assert before["reviews"][0]["reviewer"] == "alice"
    assert before["tasks"][0]["leases"][0]["reviewer"] == "alice"

    audit.seal(db)
    after = audit.case_history(db, claim.case_id)
    assert after is not None
    assert [e["seq"] is not None and len(e["hash"]) == 64 for e in after["events"]] == [True] * 4


def test_the_exported_trail_rechecks_outside_signoff_and_csv_defuses_formulas(db: Database, tmp_path: Path) -> None:
    project = make_project(tmp_path, db.url, flows={"test-flow": _flow()})
    runtime = intake.prepare(db, project)["test-flow"]
    for i in range(7):
        _submit(db, runtime, 0.5 if i % 2 else 0.1, "=cmd|' /C calc'!A0", f"x{i}")
    audit.seal(db)

    lines = list(audit.jsonl_lines(audit.sealed_events(db, batch=3)))  # pages of 3: the paging joins up
    events = [json.loads(line) for line in lines]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1)) and len(events) >= 8
    prev = GENESIS
    for e in events:  # recomputed from the file alone, as an outside checker would
        assert e["prev_hash"] == prev
        at = datetime.fromisoformat(e["at"])
        fields = {k: e[k] for k in ("actor", "action", "entity", "entity_id", "data")}
        assert event_hash(prev, event_id=e["event_id"], at=at, **fields) == e["hash"]
        prev = e["hash"]

    rows = list(csv.DictReader(io.StringIO("".join(audit.csv_lines(audit.sealed_events(db))))))
    assert len(rows) == len(events)
    submitted = [r for r in rows if r["action"] == "case.submitted"]
    assert submitted and all(not r["data"].startswith(("=", "+", "-", "@")) for r in rows)
    assert [r["hash"] for r in rows] == [e["hash"] for e in events]

    future = datetime.now(UTC) + timedelta(days=1)
    assert list(audit.sealed_events(db, since=future)) == []
    assert len(list(audit.sealed_events(db, until=future))) == len(events)


def test_export_bounds_are_iso_dates_and_bad_ones_say_so() -> None:
    assert audit.time_bound("2026-11-01", "since") == datetime(2026, 11, 1, tzinfo=UTC)
    assert audit.time_bound("2026-11-01T08:00+01:00", "until") == datetime(2026, 11, 1, 7, tzinfo=UTC)
    assert audit.time_bound("  ", "since") is None
    with pytest.raises(InvalidInput, match=r"since.*'yesterday' is not an ISO 8601 date"):
        audit.time_bound("yesterday", "since")


def test_a_reviewer_sees_earlier_decisions_on_the_same_entity(db: Database, tmp_path: Path) -> None:
    project = make_project(tmp_path, db.url, flows={"test-flow": _flow()})
    runtimes = intake.prepare(db, project)
    runtime = runtimes["test-flow"]
    _submit(db, runtime, 0.1, "acme", "old-1")  # decided by the model
    _submit(db, runtime, 0.1, "other", "old-2")  # another customer
    _submit(db, runtime, 0.9, "acme", "old-3")  # decided by the model
    gold, _ = validate_case(runtime.flow, "gold-1", {"score": 0.5, "group": "a", "customer": "acme"}, "gold")
    assert gold is not None
    intake.add_gold(db, runtime, [gold], ["bad"], "tester")
    _submit(db, runtime, 0.5, "acme", "now")  # to review
    _submit(db, runtime, 0.5, None, "anonymous")  # to review, no entity

    alice = reviewer(db, "alice")
    workspace = Workspace(project, db, runtimes)
    seen = {}
    for _ in range(2):
        claim = review.claim(db, project, alice)
        assert claim is not None
        view = workspace.view(alice, claim)
        seen[view["task"]["external_id"]] = view["entity"]
        review.submit(db, project, alice, claim.task_id, claim.token, "good")
    assert seen["now"]["field"] == "customer" and seen["now"]["value"] == "acme"
    assert [(h["external_id"], h["decision"], h["decided_by"]) for h in seen["now"]["cases"]] == [
        ("old-3", "bad", "model"),
        ("old-1", "good", "model"),
    ]
    assert seen["anonymous"]["cases"] == []
