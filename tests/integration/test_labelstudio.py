"""Label Studio round trip on SQLite and PostgreSQL: open review tasks exported with the model's predictions,
annotated as Label Studio does (with its SDK's own control tags), imported back as reviews through the claim and
submit of the review service: decisions recorded, the audit chain verifies. A bad file records nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from label_studio_sdk.label_interface.objects import TaskValue
from sqlalchemy import func, select

from helpers.labelstudio import annotate
from helpers.queues import queued, reviewer
from signoff import audit, review, users
from signoff.config import Project
from signoff.domain import Role
from signoff.errors import Forbidden, InvalidInput
from signoff.review import labelstudio
from signoff.store import cases as case_store
from signoff.store.database import Database
from signoff.store.schema import audit_events, decisions, leases, reviews


def _counts(db: Database) -> tuple[int, ...]:
    with db.transaction(write=False) as conn:
        return tuple(
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (reviews, decisions, leases, audit_events)
        )


def _export(db: Database, project: Project) -> list[dict[str, Any]]:
    return list(labelstudio.export_tasks(db, project.flow("test-flow")))


def test_export_annotate_import_decides_the_cases_and_the_chain_verifies(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 3)
    reviewer(db, "alice")
    tasks = _export(db, project)
    assert len(tasks) == 3
    for task in tasks:
        parsed = TaskValue.model_validate(task)
        assert parsed.predictions and parsed.predictions[0].model_version == "test-1"
        assert parsed.predictions[0].score == pytest.approx(0.5)
    annotate(project.flow("test-flow"), tasks[0], "good", "payslips check out")
    annotate(project.flow("test-flow"), tasks[1], "bad")  # the third stays unannotated
    done = labelstudio.import_annotations(db, project, project.flow("test-flow"), "alice", tasks)
    assert [(r.label, r.decided_by) for r in done.results] == [("good", "reviewer"), ("bad", "reviewer")]
    assert done.unannotated == (tasks[2]["data"]["signoff_task"],)
    with db.transaction(write=False) as conn:
        first = case_store.case_record(conn, tasks[0]["data"]["signoff_case"])
        third = case_store.case_record(conn, tasks[2]["data"]["signoff_case"])
    assert first is not None and third is not None
    assert first.decision is not None and (first.decision.label, first.decision.decided_by) == ("good", "reviewer")
    assert first.reviews[0].comment == "payslips check out"
    assert [(lease.token, lease.end_reason) for lease in first.tasks[0].leases] == [(1, "submitted")]
    assert third.decision is None and third.tasks[0].status == "queued"
    with db.transaction(write=False) as conn:
        events = conn.execute(
            select(audit_events.c.actor, audit_events.c.action, audit_events.c.data).order_by(audit_events.c.id)
        ).all()
    imported = [(e.actor, e.action) for e in events[-6:]]
    assert imported == [("alice", a) for a in ["task.claimed", "review.submitted", "case.decided"] * 2]
    assert events[-6].data["source"] == "label-studio"
    audit.seal(db)
    report = audit.verify(db)
    assert report.ok and report.unsealed == 0
    assert [t["data"]["signoff_task"] for t in _export(db, project)] == [tasks[2]["data"]["signoff_task"]]


def test_a_bad_item_names_every_problem_and_records_nothing(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 3)
    alice = reviewer(db, "alice")
    tasks = _export(db, project)
    claim = review.claim(db, project, alice)  # the first task is decided in Signoff's own UI meanwhile
    assert claim is not None and claim.task_id == tasks[0]["data"]["signoff_task"]
    review.submit(db, project, alice, claim.task_id, claim.token, "bad")
    unknown = {"data": {**tasks[1]["data"], "signoff_task": 999_999}}
    for task in (tasks[0], tasks[1], unknown):
        annotate(project.flow("test-flow"), task, "good")
    annotate(project.flow("test-flow"), tasks[2], "good")
    tasks[2]["annotations"][0]["result"][0]["value"]["choices"] = ["maybe"]  # edited by hand into no label
    reviewer(db, "bob")
    before = _counts(db)
    with pytest.raises(InvalidInput) as refused:
        labelstudio.import_annotations(db, project, project.flow("test-flow"), "bob", [tasks[2]])
    assert "'maybe' is not a label of flow 'test-flow'" in str(refused.value)
    with pytest.raises(InvalidInput) as refused:
        labelstudio.import_annotations(db, project, project.flow("test-flow"), "bob", [tasks[0], tasks[1], unknown])
    message = str(refused.value)
    assert message.startswith("no review recorded: 2 of 3 refused")
    assert [p.location for p in refused.value.problems] == ["[0].annotations[0].task", "[2].annotations[0].task"]
    assert f"task {claim.task_id} is already completed; case {claim.case_id} is decided: bad" in message
    assert "flow 'test-flow' has no task 999999" in message
    assert _counts(db) == before  # the good item in between was not recorded either


def test_the_reviewer_must_exist_and_hold_a_reviewing_role_on_the_flow(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 1)
    tasks = _export(db, project)
    annotate(project.flow("test-flow"), tasks[0], "good")
    flow = project.flow("test-flow")
    with pytest.raises(Exception, match="user 'nobody' does not exist"):
        labelstudio.import_annotations(db, project, flow, "nobody", tasks)
    users.create_user(db, "ivan", Role.INTAKE, "tester")
    with pytest.raises(Forbidden):
        labelstudio.import_annotations(db, project, flow, "ivan", tasks)
    users.create_user(db, "rita", Role.REVIEWER, "tester", flows=["other-flow"])
    with pytest.raises(Forbidden):
        labelstudio.import_annotations(db, project, flow, "rita", tasks)


def test_the_four_eyes_rule_holds_for_imported_reviews(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 1)  # the cases were submitted by "tester"
    reviewer(db, "tester")
    tasks = _export(db, project)
    annotate(project.flow("test-flow"), tasks[0], "good")
    with pytest.raises(InvalidInput, match="tester submitted case"):
        labelstudio.import_annotations(db, project, project.flow("test-flow"), "tester", tasks)
