"""The flagging engine with its store: audit samples, calibration from verified labels, capacity memory, targets."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from helpers.builders import make_project
from helpers.queues import reviewer
from signoff import intake, review
from signoff.intake import validate_case
from signoff.routing.calibration import Certificate, Refusal
from signoff.routing.state import RoutingState
from signoff.store import cases as case_store
from signoff.store.database import Database
from signoff.store.schema import audit_events, routes, tasks


def _submit(db: Database, runtime: intake.FlowRuntime, scores: list[float], **fields: Any) -> list[intake.Submitted]:
    cases = []
    for i, score in enumerate(scores):
        case, problems = validate_case(runtime.flow, None, {"score": score, "group": "a", **fields}, f"cases[{i}]")
        assert case is not None, problems
        cases.append(case)
    return intake.submit(db, runtime, cases, "tester")


def _review_all(db: Database, runtime: intake.FlowRuntime, label: str) -> int:
    alice = reviewer(db, "alice")
    done = 0
    while (got := review.claim(db, runtime.project, alice)) is not None:
        review.submit(db, runtime.project, alice, got.task_id, got.token, label)
        done += 1
    return done


def test_an_audited_case_is_decided_by_the_model_and_its_review_only_measures(db: Database, tmp_path: Path) -> None:
    runtime = intake.prepare(db, make_project(tmp_path, db.url, policy=[], audit={"rate": 1.0}))["test-flow"]
    (result,) = _submit(db, runtime, [0.1])
    assert (result.verdict, result.decision, result.decided_by) == ("audit", "good", "model")
    with db.transaction(write=False) as conn:
        task = conn.execute(select(tasks.c.kind, tasks.c.priority)).one()
        route = conn.execute(select(routes.c.inclusion_probability)).scalar_one()
    assert (task.kind, task.priority, route) == ("audit", -10, 1.0)
    assert _review_all(db, runtime, "bad") == 1
    with db.transaction(write=False) as conn:
        record = case_store.case_record(conn, result.case_id)
        audited = conn.execute(select(audit_events.c.data).where(audit_events.c.action == "case.audited")).scalar_one()
    assert record is not None and record.decision.label == "good" and record.decision.decided_by == "model"
    assert record.reviews[0].label == "bad"
    assert audited["agrees"] is False and audited["model_label"] == "good"


def test_a_certified_rule_calibrates_on_audit_reviews(db: Database, tmp_path: Path) -> None:
    sampling = make_project(tmp_path, db.url, policy=[], audit={"rate": 1.0})
    runtime = intake.prepare(db, sampling)["test-flow"]
    _submit(db, runtime, list(np.linspace(0.0, 0.3, 320)))
    assert _review_all(db, runtime, "good") == 320  # the model was right on every audited case
    certified = make_project(tmp_path, db.url, policy=[{"name": "cert", "kind": "certified", "alpha": 0.01}])
    runtime = intake.prepare(db, certified)["test-flow"]
    certificate = runtime.state.snapshot().certificates["cert"][None]
    assert isinstance(certificate, Certificate) and certificate.calibration_size == 320
    confident, unsure = _submit(db, runtime, [0.05, 0.45])
    assert (confident.verdict, unsure.verdict) == ("auto", "review")
    assert "below the certified threshold" in unsure.reason and "320 verified cases" in unsure.reason


def test_flagged_reviews_are_not_calibration_data(db: Database, tmp_path: Path) -> None:
    project = make_project(tmp_path, db.url, policy=[{"name": "t", "kind": "threshold", "min_confidence": 0.99}])
    runtime = intake.prepare(db, project)["test-flow"]
    _submit(db, runtime, [0.2] * 30)
    _review_all(db, runtime, "good")
    certified = make_project(tmp_path, db.url, policy=[{"name": "cert", "kind": "certified", "alpha": 0.05}])
    found = intake.prepare(db, certified)["test-flow"].state.snapshot().certificates["cert"][None]
    assert isinstance(found, Refusal) and found.calibration_size == 0


def test_a_calibration_file_certifies_before_any_audit(db: Database, tmp_path: Path) -> None:
    rows = "\n".join(f"{s:.4f},a,good" for s in np.linspace(0.0, 0.2, 400))
    (tmp_path / "calibration.csv").write_text("score,group,label\n" + rows + "\n", encoding="utf-8")
    project = make_project(
        tmp_path,
        db.url,
        policy=[{"name": "cert", "kind": "certified", "alpha": 0.01}],
        calibration={"file": "calibration.csv"},
    )
    found = intake.prepare(db, project)["test-flow"].state.snapshot().certificates["cert"][None]
    assert isinstance(found, Certificate) and found.calibration_size == 400


def test_capacity_remembers_recent_scores_across_restarts(db: Database, tmp_path: Path) -> None:
    project = make_project(
        tmp_path, db.url, policy=[{"name": "cap", "kind": "capacity", "budget": 0.1, "window": 500, "min_history": 100}]
    )
    runtime = intake.prepare(db, project)["test-flow"]
    _submit(db, runtime, list(np.linspace(0.0, 0.45, 400)))
    restarted = intake.prepare(db, project)["test-flow"]
    history = restarted.state.snapshot().history["cap"]
    assert len(history) == 400 and np.isclose(history.min(), 0.55)
    (single,) = _submit(db, restarted, [0.44])  # confidence 0.56: among the least confident 10% of recent cases
    assert single.verdict == "review" and "provisional" not in single.reason


def test_a_rule_sets_role_priority_and_due_time_of_its_task(db: Database, tmp_path: Path) -> None:
    rule = {"name": "big", "kind": "expression", "when": "amount > 1000", "role": "admin", "priority": 5, "sla": 7200}
    runtime = intake.prepare(db, make_project(tmp_path, db.url, policy=[rule]))["test-flow"]
    (result,) = _submit(db, runtime, [0.1], amount=5000.0)
    assert result.verdict == "review" and result.rule == "big"
    with db.transaction(write=False) as conn:
        task = conn.execute(select(tasks.c.role, tasks.c.priority, tasks.c.created_at, tasks.c.due_at)).one()
        route = conn.execute(select(routes.c.role, routes.c.sla)).one()
    assert (task.role, task.priority, route.role, route.sla) == ("admin", 5, "admin", 7200.0)
    assert task.due_at - task.created_at == timedelta(hours=2)


def test_a_certified_rule_starts_cold_by_census_and_then_certifies(db: Database, tmp_path: Path) -> None:
    rule = {"name": "cert", "kind": "certified", "alpha": 0.01}
    project = make_project(tmp_path, db.url, policy=[rule], calibration={"min_refresh": 1})
    runtime = intake.prepare(db, project)["test-flow"]
    first = _submit(db, runtime, list(np.linspace(0.0, 0.3, 320)))
    assert {r.verdict for r in first} == {"review"}  # no guarantee yet: every case goes to a person
    assert "cannot certify" in first[0].reason
    with db.transaction(write=False) as conn:
        assert set(conn.execute(select(routes.c.inclusion_probability)).scalars()) == {1.0}
    assert _review_all(db, runtime, "good") == 320
    intake.recalibrate(db, runtime)
    certificate = runtime.state.snapshot().certificates["cert"][None]
    assert isinstance(certificate, Certificate) and certificate.calibration_size == 320
    (later,) = _submit(db, runtime, [0.05])
    assert later.verdict == "auto"


def test_calibration_ignores_verified_labels_of_another_model_version(db: Database, tmp_path: Path) -> None:
    sampling = make_project(tmp_path, db.url, policy=[], audit={"rate": 1.0})
    runtime = intake.prepare(db, sampling)["test-flow"]
    _submit(db, runtime, list(np.linspace(0.0, 0.3, 320)))
    _review_all(db, runtime, "good")
    retrained = make_project(
        tmp_path,
        db.url,
        policy=[{"name": "cert", "kind": "certified", "alpha": 0.01}],
        model={"kind": "python", "entry_point": "helpers.models:by_score", "version": "test-2"},
    )
    found = intake.prepare(db, retrained)["test-flow"].state.snapshot().certificates["cert"][None]
    assert isinstance(found, Refusal) and found.calibration_size == 0


def test_a_submission_only_reads_the_calibration_and_refresh_renews_it(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rule = {"name": "cert", "kind": "certified", "alpha": 0.01}
    project = make_project(tmp_path, db.url, policy=[rule], calibration={"min_refresh": 1})
    runtime = intake.prepare(db, project)["test-flow"]
    _submit(db, runtime, list(np.linspace(0.0, 0.3, 320)))
    assert _review_all(db, runtime, "good") == 320
    monkeypatch.setattr(RoutingState, "stale", lambda _self, _seconds: True)  # the calibration is past min_refresh
    (waiting,) = _submit(db, runtime, [0.05])
    assert waiting.verdict == "review" and "cannot certify" in waiting.reason  # the request did not recalibrate
    intake.refresh(db, {runtime.flow.name: runtime})
    (later,) = _submit(db, runtime, [0.05])
    assert later.verdict == "auto"
