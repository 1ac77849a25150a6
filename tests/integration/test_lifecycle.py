"""A decision has one audit shape whoever decides: the model at intake, a reviewer, or escalation's default."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from helpers.queues import queued, reviewer
from signoff import intake, review
from signoff.intake import validate_case
from signoff.review.escalation import escalate
from signoff.store.database import Database
from signoff.store.schema import audit_events, tasks

FIELDS = {"label", "decided_by", "task_id", "queue", "review_id", "model_version_id", "escalation_exhausted"}


def _data(db: Database, action: str) -> list[dict[str, Any]]:
    with db.transaction(write=False) as conn:
        query = select(audit_events.c.data).where(audit_events.c.action == action).order_by(audit_events.c.id)
        return list(conn.execute(query).scalars())


def test_every_decider_writes_the_same_decision_shape(db: Database, tmp_path: Path) -> None:
    project = queued(
        db, tmp_path, 2, queues={"default": {"sla": 600, "when_exhausted": {"action": "label", "label": "bad"}}}
    )
    alice = reviewer(db, "alice")
    got = review.claim(db, project, alice)
    assert got is not None
    review.submit(db, project, alice, got.task_id, got.token, "good")
    other = 3 - got.task_id
    with db.transaction() as conn:
        conn.execute(update(tasks).where(tasks.c.id == other).values(due_at=db.now(conn) - timedelta(minutes=1)))
    assert [e.action for e in escalate(db, project)] == ["label"]
    runtime = intake.prepare(db, project)["test-flow"]
    case, _ = validate_case(runtime.flow, "sure", {"score": 0.99, "group": "a"}, "case")
    assert case is not None
    (auto,) = intake.submit(db, runtime, [case], "tester")
    assert auto.decided_by == "model"

    by_review, by_default = _data(db, "case.decided")
    by_model = _data(db, "case.submitted")[-1]["decision"]
    assert set(by_review) == set(by_default) == set(by_model) == FIELDS
    assert by_review | {"review_id": None} == {
        "label": "good",
        "decided_by": "reviewer",
        "task_id": got.task_id,
        "queue": "default",
        "review_id": None,
        "model_version_id": None,
        "escalation_exhausted": False,
    }
    assert by_review["review_id"] is not None
    assert (by_default["decided_by"], by_default["task_id"], by_default["escalation_exhausted"]) == (
        "default-action",
        other,
        True,
    )
    assert (by_model["decided_by"], by_model["task_id"], by_model["review_id"]) == ("model", None, None)
    assert by_model["model_version_id"] is not None
