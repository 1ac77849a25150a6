"""Escalation along a queue's chain, and the default-safe action when the chain runs out, on both databases."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from helpers.queues import queued, reviewer
from signoff import review
from signoff.config import Project
from signoff.review.escalation import escalate
from signoff.store import cases as case_store
from signoff.store.database import Database
from signoff.store.schema import audit_events, tasks


def _overdue(db: Database, task_id: int = 1) -> None:
    with db.transaction() as conn:
        conn.execute(update(tasks).where(tasks.c.id == task_id).values(due_at=db.now(conn) - timedelta(minutes=1)))


def _events(db: Database, action: str) -> list[dict[str, Any]]:
    with db.transaction(write=False) as conn:
        return list(conn.execute(select(audit_events.c.data).where(audit_events.c.action == action)).scalars())


def _project(db: Database, tmp_path: Path, **default: Any) -> Project:
    return queued(
        db, tmp_path, 1, queues={"default": {"sla": 600, **default}, "senior": {"role": "admin", "sla": 3600}}
    )


def test_a_due_task_moves_to_the_next_queue_of_its_chain(db: Database, tmp_path: Path) -> None:
    project = _project(db, tmp_path, escalate_to="senior")
    _overdue(db)
    (done,) = escalate(db, project)
    assert (done.from_queue, done.to_queue, done.action) == ("default", "senior", "escalated")
    with db.transaction(write=False) as conn:
        task = conn.execute(select(tasks)).one()
    assert (task.queue, task.role) == ("senior", "admin")
    assert timedelta(minutes=59) < task.due_at - task.created_at < timedelta(minutes=61)
    assert _events(db, "task.escalated")[0]["to_queue"] == "senior"
    assert escalate(db, project) == []  # due again only in an hour


def test_an_exhausted_chain_holds_by_default_and_only_once(db: Database, tmp_path: Path) -> None:
    project = _project(db, tmp_path)
    _overdue(db)
    assert [e.action for e in escalate(db, project)] == ["hold"]
    assert escalate(db, project) == []
    with db.transaction(write=False) as conn:
        task = conn.execute(select(tasks)).one()
    assert (task.status, task.due_at) == ("queued", None)
    assert len(_events(db, "task.held")) == 1


def test_an_exhausted_chain_can_decide_a_safe_label(db: Database, tmp_path: Path) -> None:
    project = _project(db, tmp_path, when_exhausted={"action": "label", "label": "bad"})
    _overdue(db)
    assert [e.action for e in escalate(db, project)] == ["label"]
    with db.transaction(write=False) as conn:
        record = case_store.case_record(conn, 1)
    assert record is not None and record.decision.label == "bad"
    assert record.decision.decided_by == "default-action" and record.tasks[0].status == "done"
    assert _events(db, "case.decided")[0]["escalation_exhausted"] is True


def test_an_exhausted_chain_can_let_the_model_decide_and_flag_it(db: Database, tmp_path: Path) -> None:
    project = _project(db, tmp_path, when_exhausted={"action": "model"})
    _overdue(db)
    assert [e.action for e in escalate(db, project)] == ["model"]
    with db.transaction(write=False) as conn:
        record = case_store.case_record(conn, 1)
    assert record is not None and record.decision.decided_by == "model"
    assert record.decision.label == record.predictions[0].label
    event = _events(db, "case.decided")[0]
    assert event["escalation_exhausted"] is True and event["decided_by"] == "model"


def test_a_task_someone_is_working_on_is_not_escalated(db: Database, tmp_path: Path) -> None:
    project = _project(db, tmp_path, escalate_to="senior")
    _overdue(db)
    alice = reviewer(db, "alice")
    got = review.claim(db, project, alice)
    assert got is not None
    assert escalate(db, project) == []
    review.submit(db, project, alice, got.task_id, got.token, "good")


def test_a_looping_chain_is_refused_when_the_flow_loads(tmp_path: Path) -> None:
    from helpers.builders import make_flow

    with pytest.raises(ValueError, match="loops back"):
        make_flow(queues={"a": {"escalate_to": "b"}, "b": {"escalate_to": "a"}})


def test_a_move_and_a_hold_name_the_case_the_queue_left_and_when_it_was_due(db: Database, tmp_path: Path) -> None:
    project = queued(
        db,
        tmp_path,
        1,
        queues={"default": {"sla": 600, "escalate_to": "senior"}, "senior": {"role": "admin", "sla": 3600}},
    )
    _overdue(db)
    escalate(db, project)
    _overdue(db)
    escalate(db, project)  # senior ends the chain: held
    (moved,) = _events(db, "task.escalated")
    (held,) = _events(db, "task.held")
    assert set(moved) == {"case_id", "from_queue", "due_at", "to_queue"}
    assert (moved["case_id"], moved["from_queue"], moved["to_queue"]) == (1, "default", "senior")
    assert set(held) == {"case_id", "from_queue", "due_at", "action"}
    assert (held["case_id"], held["from_queue"], held["action"]) == (1, "senior", "hold")
