"""Submitting cases: scoring, routing, idempotency and the all-or-nothing rule, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from helpers.builders import make_project
from signoff import intake
from signoff.errors import IdempotencyConflict
from signoff.intake import CaseInput, validate_case
from signoff.store.database import Database
from signoff.store.schema import audit_events, cases, decisions, predictions, routes, tasks


def _counts(db: Database) -> dict[str, int]:
    with db.transaction(write=False) as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (cases, predictions, routes, tasks, decisions)
        }


def _inputs(runtime: intake.FlowRuntime, *bodies: dict[str, object]) -> list[CaseInput]:
    out = []
    for i, body in enumerate(bodies):
        case, problems = validate_case(runtime.flow, body.get("external_id"), body["fields"], f"cases[{i}]")
        assert case is not None, problems
        out.append(case)
    return out


def _runtime(db: Database, tmp_path: Path, **overrides: object) -> intake.FlowRuntime:
    project = make_project(tmp_path, db.url, **overrides)
    return intake.prepare(db, project)["test-flow"]


def test_confident_cases_are_decided_by_the_model_and_uncertain_ones_queued(db: Database, tmp_path: Path) -> None:
    runtime = _runtime(db, tmp_path)
    results = intake.submit(
        db,
        runtime,
        _inputs(runtime, {"fields": {"score": 0.1, "group": "a"}}, {"fields": {"score": 0.5, "group": "b"}}),
        "tester",
    )
    auto, flagged = results
    assert (auto.verdict, auto.decision, auto.decided_by, auto.status) == ("auto", "good", "model", "decided")
    assert (flagged.verdict, flagged.decision, flagged.rule, flagged.status) == (
        "review",
        None,
        "uncertain",
        "in_review",
    )
    assert "inside the review band [0.3, 0.7]" in flagged.reason
    assert _counts(db) == {"cases": 2, "predictions": 2, "routes": 2, "tasks": 1, "decisions": 1}
    with db.transaction(write=False) as conn:
        route_rows = conn.execute(select(routes.c.policy_version, routes.c.reason)).all()
        events = conn.execute(
            select(audit_events.c.action, audit_events.c.entity_id).where(audit_events.c.entity == "case")
        ).all()
    assert {r.policy_version for r in route_rows} == {runtime.flow.policy_version}
    assert sorted(events) == [("case.submitted", str(auto.case_id)), ("case.submitted", str(flagged.case_id))]


def test_same_external_id_and_payload_returns_the_earlier_case(db: Database, tmp_path: Path) -> None:
    runtime = _runtime(db, tmp_path)
    body = {"external_id": "loan-1", "fields": {"score": 0.5, "group": "a"}}
    first = intake.submit(db, runtime, _inputs(runtime, body), "tester")[0]
    again = intake.submit(db, runtime, _inputs(runtime, body, body), "tester")
    assert [r.case_id for r in again] == [first.case_id, first.case_id]
    assert [r.created for r in [first, *again]] == [True, False, False]
    assert _counts(db)["cases"] == 1 and _counts(db)["tasks"] == 1


def test_same_external_id_with_another_payload_is_refused_and_writes_nothing(db: Database, tmp_path: Path) -> None:
    runtime = _runtime(db, tmp_path)
    intake.submit(db, runtime, _inputs(runtime, {"external_id": "loan-1", "fields": {"score": 0.5, "group": "a"}}), "t")
    before = _counts(db)
    batch = _inputs(
        runtime,
        {"external_id": "loan-2", "fields": {"score": 0.2, "group": "a"}},
        {"external_id": "loan-1", "fields": {"score": 0.6, "group": "a"}},
    )
    with pytest.raises(IdempotencyConflict, match=r"'loan-1'.*different payload"):
        intake.submit(db, runtime, batch, "t")
    assert _counts(db) == before


def test_a_conflict_inside_one_batch_is_refused(db: Database, tmp_path: Path) -> None:
    runtime = _runtime(db, tmp_path)
    batch = _inputs(
        runtime,
        {"external_id": "x", "fields": {"score": 0.2, "group": "a"}},
        {"external_id": "x", "fields": {"score": 0.3, "group": "a"}},
    )
    with pytest.raises(IdempotencyConflict):
        intake.submit(db, runtime, batch, "t")
    assert _counts(db)["cases"] == 0


@pytest.mark.parametrize(
    ("entry_point", "problem"),
    [
        ("helpers.models:not_a_distribution", "probabilities sum to 1.4, not 1"),
        ("helpers.models:negative", "a probability is negative (-0.2)"),
        ("helpers.models:crashes", "the model failed: RuntimeError: the model server is down"),
        ("helpers.models:wrong_shape", "the model returned shape (2, 3), expected (2, 2)"),
    ],
)
def test_invalid_model_output_never_becomes_an_automatic_decision(
    db: Database, tmp_path: Path, entry_point: str, problem: str
) -> None:
    runtime = _runtime(db, tmp_path, model={"kind": "python", "entry_point": entry_point, "version": "bad"}, policy=[])
    results = intake.submit(
        db,
        runtime,
        _inputs(runtime, {"fields": {"score": 0.01, "group": "a"}}, {"fields": {"score": 0.99, "group": "b"}}),
        "t",
    )
    assert {(r.verdict, r.rule, r.decision) for r in results} == {("review", "invalid-model-output", None)}
    assert all(r.reason == f"invalid model output: {problem}" for r in results)
    with db.transaction(write=False) as conn:
        stored = conn.execute(select(predictions.c.probabilities, predictions.c.problem)).all()
    assert stored == [(None, problem), (None, problem)]


def test_nan_from_the_model_goes_to_review(db: Database, tmp_path: Path) -> None:
    runtime = _runtime(
        db, tmp_path, model={"kind": "python", "entry_point": "helpers.models:nan_for_negative", "version": "n"}
    )
    low, nan = intake.submit(
        db,
        runtime,
        _inputs(runtime, {"fields": {"score": 0.05, "group": "a"}}, {"fields": {"score": 0.95, "group": "a"}}),
        "t",
    )
    assert low.verdict == "auto"
    assert (nan.verdict, nan.reason) == ("review", "invalid model output: a probability is NaN or infinite")


def test_preparing_twice_records_model_and_policy_versions_once(db: Database, tmp_path: Path) -> None:
    project = make_project(tmp_path, db.url)
    first = intake.prepare(db, project)["test-flow"]
    second = intake.prepare(db, project)["test-flow"]
    assert first.model_version_id == second.model_version_id
    with db.transaction(write=False) as conn:
        actions = conn.execute(select(audit_events.c.action).order_by(audit_events.c.id)).scalars().all()
    assert actions == ["model.registered", "policy.registered", "flow.loaded"]
