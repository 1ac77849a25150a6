"""The policy and model history of a flow, read from the store on SQLite and PostgreSQL: the scripted run (see
tests/helpers/scripted.py), then a second model version and a second policy version taking more cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.builders import make_project
from helpers.scripted import scripted_project, scripted_run
from signoff import intake
from signoff.intake import validate_case
from signoff.metrics.versions import flow_versions
from signoff.store import registry, rollups
from signoff.store.database import Database


def _second_generation(db: Database, tmp_path: Path) -> tuple[str, str]:
    """Serve model ``test-2`` under a narrower band and submit four cases; nobody reviews any of them."""
    folder = tmp_path / "second"
    folder.mkdir()
    project = make_project(
        folder,
        db.url,
        model={"kind": "python", "entry_point": "helpers.models:by_score", "version": "test-2"},
        policy=[{"name": "narrow", "kind": "band", "label": "bad", "low": 0.45, "high": 0.55, "review": "inside"}],
    )
    runtime = intake.prepare(db, project)["test-flow"]
    found = []
    for i, score in enumerate((0.5, 0.1, 0.9, 0.3)):
        case, _ = validate_case(runtime.flow, f"d{i}", {"score": score, "group": "a"}, f"cases[{i}]")
        assert case is not None
        found.append(case)
    intake.submit(db, runtime, found, "tester")
    return runtime.model.version, runtime.policy.version


def test_the_store_reads_each_versions_use(db: Database, tmp_path: Path) -> None:
    project = scripted_project(db, tmp_path)
    scripted_run(db, project)
    first_policy = project.flow("test-flow").policy_version
    model, policy = _second_generation(db, tmp_path)

    with db.transaction(write=False) as conn:
        unfolded = rollups.version_use(conn, "test-flow", 0)  # no cell yet: every case counted above the mark
    mark = rollups.fold_versions(db, "test-flow", rollups.final_case_id(db), chunk=3)  # in chunks of 3 ids
    with db.transaction(write=False) as conn:
        policies = {p.version: p.document for p in registry.policy_versions_of(conn, "test-flow")}
        models = {m.id: m.version for m in registry.model_versions_of(conn, "test-flow")}
        used = rollups.version_use(conn, "test-flow", mark)
        audits = registry.audit_sample(conn, "test-flow")
        assert registry.policy_versions_of(conn, "another-flow") == []
        assert rollups.version_use(conn, "another-flow", mark) == rollups.VersionUse({}, {})

    assert used == unfolded
    assert {p: n for p, (n, _) in used.policies.items()} == {first_policy: 6, policy: 4}  # gold cases left out
    assert all(policies[p]["flow"] == "test-flow" for p in used.policies)
    assert used.policies[policy][1] > used.policies[first_policy][1]
    assert {models[i]: counted for i, counted in used.models.items()} == {model: (4, 1), "test-1": (6, 3)}
    # the three audited cases of the first generation, each with the reviewer's answer and pi = 1: two right
    assert sorted((models[m], right, pi, n) for m, right, pi, n in audits) == [
        ("test-1", False, 1.0, 1),
        ("test-1", True, 1.0, 2),
    ]


def test_flow_versions_mark_the_champion_and_estimate_accuracy_from_the_audit_only(
    db: Database, tmp_path: Path
) -> None:
    project = scripted_project(db, tmp_path)
    scripted_run(db, project)
    first_policy = project.flow("test-flow").policy_version
    model, policy = _second_generation(db, tmp_path)

    found = flow_versions(db, "test-flow", serving_model=model, current_policy=policy)
    assert found.challenger is None
    assert [(p.version, p.current, p.rules) for p in found.policies] == [
        (policy, True, [("narrow", "band")]),
        (first_policy, False, [("uncertain", "band")]),
    ]
    new, old = found.models
    assert (new.version, new.champion, new.cases, new.flagged, new.flag_rate) == (model, True, 4, 1, 0.25)
    assert (new.accuracy, new.audited) == (None, 0)  # no audit sample: no accuracy, not a guess
    assert (old.version, old.champion, old.flag_rate, old.audited) == ("test-1", False, 0.5, 3)
    # 2 of 3 audited auto decisions right; a census (every pi is 1) so the interval is the point
    assert old.accuracy is not None
    assert (old.accuracy.value, old.accuracy.low, old.accuracy.high) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
