"""The model registry on SQLite and PostgreSQL: registering (artifact, fingerprint, idempotency), status changes,
the runtime serving the champion (and dropping the old champion's scores from its capacity window, keeping its
audit's generator), the cold start, and the re-scoring of open review cases by a new champion."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select, text

from helpers.builders import make_flow, make_project
from helpers.queues import scored
from helpers.registry import fitted, training_set, training_tables
from signoff import intake
from signoff.domain import ModelStatus
from signoff.errors import Conflict, InvalidInput, ModelError, NotFound
from signoff.intake import validate_case
from signoff.learning import registry
from signoff.models.adapters import file_sha256
from signoff.models.frames import frame_of
from signoff.routing.policy import COLD_START_RULE, NO_MODEL
from signoff.store import cases as case_store
from signoff.store import migrate
from signoff.store.database import Database
from signoff.store.schema import audit_events, model_versions, predictions, routes

CAPACITY = [{"name": "budget", "kind": "capacity", "budget": 0.1, "window": 200, "min_history": 100}]


def submit(db: Database, runtime: intake.FlowRuntime, scores: Any) -> list[intake.Submitted]:
    found = []
    for i, score in enumerate(scores):
        case, _ = validate_case(runtime.flow, None, {"score": float(score), "group": "a"}, f"cases[{i}]")
        assert case is not None
        found.append(case)
    return intake.submit(db, runtime, found, "tester")


def events(db: Database, action: str) -> list[Any]:
    with db.transaction(write=False) as conn:
        return list(conn.execute(select(audit_events).where(audit_events.c.action == action)))


def test_register_writes_the_artifact_then_a_candidate_once_per_fingerprint(db: Database, tmp_path: Path) -> None:
    project = make_project(tmp_path, db.url)
    flow = project.flow("test-flow")
    intake.prepare(db, project)  # records the flow file's model, the champion
    model = fitted(flow)

    first = registry.register(
        db, project, flow, model, training_set=training_set(db), metrics={"accuracy": 0.9}, parent=None, actor="ann"
    )
    assert (first.status, first.created_by, first.training_set_id, dict(first.metrics)) == (
        ModelStatus.CANDIDATE,
        "ann",
        7,
        {"accuracy": 0.9},
    )
    assert first.version == "test-flow-2"  # the flow file's model is the first version of the flow
    path = tmp_path / first.uri
    assert first.uri == f"models/test-flow/{first.fingerprint[:16]}.skops" and path.is_file()  # type: ignore[index]
    assert file_sha256(path) == first.sha256
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]  # the temporary name was renamed

    again = registry.register(
        db, project, flow, model, training_set=training_set(db), metrics={"accuracy": 0.9}, parent=None, actor="bob"
    )
    assert again == first
    # a deterministic trainer on the same set: the same fingerprint, although a new skops file would differ
    retrained = registry.register(
        db,
        project,
        flow,
        fitted(flow),
        training_set=training_set(db),
        metrics={"accuracy": 0.9},
        parent=None,
        actor="bob",
    )
    assert retrained == first
    assert registry.fingerprint(flow, fitted(flow), "a" * 64) == first.fingerprint
    assert registry.fingerprint(flow, fitted(flow), "b" * 64) != first.fingerprint  # another training set
    assert registry.fingerprint(flow, fitted(flow, cut=0.4), "a" * 64) != first.fingerprint  # another model
    boosted = [fitted(flow, kind="boosting") for _ in range(2)]  # gradient boosting with a fixed random_state
    assert registry.fingerprint(flow, boosted[0], "a" * 64) == registry.fingerprint(flow, boosted[1], "a" * 64)

    child = registry.register(
        db,
        project,
        flow,
        fitted(flow, cut=0.4),
        training_set=training_set(db, "b" * 64, 8),
        metrics={},
        parent=first.id,
        actor="ann",
    )
    assert (child.version, child.parent_id) == ("test-flow-3", first.id)
    assert [v.version for v in registry.versions(db, flow)] == ["test-flow-3", "test-flow-2", "test-1"]
    assert [e.data["version"] for e in events(db, "model.registered")] == ["test-1", "test-flow-2", "test-flow-3"]


def test_register_refuses_a_model_that_is_not_the_flows(db: Database, tmp_path: Path) -> None:
    project = make_project(tmp_path, db.url)
    flow = project.flow("test-flow")
    with pytest.raises(InvalidInput, match=r"metrics\.auc: must be a finite number"):
        registry.register(
            db, project, flow, fitted(flow), training_set=training_set(db), metrics={"auc": float("nan")},
            parent=None, actor="ann",
        )  # fmt: skip
    with pytest.raises(InvalidInput, match="not a fitted classifier"):
        registry.register(
            db, project, flow, object(), training_set=training_set(db), metrics={}, parent=None, actor="a"
        )
    with pytest.raises(NotFound, match="model version"):
        registry.register(
            db, project, flow, fitted(flow), training_set=training_set(db), metrics={}, parent=999, actor="ann"
        )
    with db.transaction(write=False) as conn:
        assert conn.execute(select(func.count()).select_from(model_versions)).scalar_one() == 0
    assert not list((tmp_path / "models" / "test-flow").glob("*"))  # nothing written, not even a temporary file


def test_a_new_champion_retires_the_old_one_audited(db: Database, tmp_path: Path) -> None:
    project = make_project(tmp_path, db.url)
    flow = project.flow("test-flow")
    intake.prepare(db, project)
    assert registry.champion(db, flow).version == "test-1"  # type: ignore[union-attr]
    new = registry.register(
        db, project, flow, fitted(flow), training_set=training_set(db), metrics={}, parent=None, actor="ann"
    )

    with pytest.raises(InvalidInput, match="reason"):
        registry.set_status(db, flow, new.version, "champion", actor="ann", reason=" ")
    with pytest.raises(InvalidInput, match="'boss' is not one of candidate"):
        registry.set_status(db, flow, new.version, "boss", actor="ann", reason="x")
    with pytest.raises(NotFound):
        registry.set_status(db, flow, "nope", "champion", actor="ann", reason="x")

    shadow = registry.set_status(db, flow, new.version, ModelStatus.SHADOW, actor="carl", reason="watch it")
    assert (shadow.status, shadow.status_changed_by) == (ModelStatus.SHADOW, "carl")
    promoted = registry.set_status(db, flow, new.version, ModelStatus.CHAMPION, actor="dana", reason="better")
    assert promoted.status is ModelStatus.CHAMPION and promoted.status_changed_at is not None
    assert registry.champion(db, flow) == promoted
    assert registry.version(db, flow, "test-1").status is ModelStatus.RETIRED
    changes = [(e.data.get("version"), e.data["from"], e.data["to"]) for e in events(db, "model.status_changed")]
    assert changes == [
        (new.version, "candidate", "shadow"),
        (None, "champion", "retired"),
        (new.version, "shadow", "champion"),
    ]
    # the same status again changes nothing
    assert registry.set_status(db, flow, new.version, "champion", actor="eve", reason="again") == promoted
    assert len(events(db, "model.status_changed")) == 3

    # a restart with the same flow file keeps the registry's champion; a new model in the flow file takes over
    assert intake.prepare(db, project)["test-flow"].model.version == new.version
    edited = make_project(
        tmp_path, db.url, model={"kind": "python", "entry_point": "helpers.models:by_score", "version": "test-9"}
    )
    assert intake.prepare(db, edited)["test-flow"].model.version == "test-9"
    training_tables(db, [])
    assert registry.version(db, flow, new.version).status is ModelStatus.RETIRED


def test_running_servers_take_the_new_champion_with_a_window_of_its_own_scores(db: Database, tmp_path: Path) -> None:
    project = make_project(tmp_path, db.url, policy=CAPACITY)
    flow = project.flow("test-flow")
    runtimes = intake.prepare(db, project)
    rng = np.random.default_rng(3)
    before = submit(db, runtimes["test-flow"], rng.uniform(0, 1, 200))
    assert 0.04 <= np.mean([r.verdict == "review" for r in before]) <= 0.16  # the old model, at its budget

    old = runtimes["test-flow"]
    intake.refresh(db, runtimes)
    assert runtimes["test-flow"] is old  # nothing changed: the same runtime
    new = registry.register(
        db, project, flow, fitted(flow), training_set=training_set(db), metrics={}, parent=None, actor="ann"
    )
    registry.promote(db, project, flow, new.version, actor="ann", reason="better")
    intake.refresh(db, runtimes)
    served = runtimes["test-flow"]
    assert served is not old and served.model.version == new.version and served.model_version_id == new.id

    # Cases come ten at a time, so that each is ranked mostly against the window, not against its own batch.
    chunks = [rng.uniform(0, 1, 10) for _ in range(30)]
    frozen = old.state.snapshot()
    # The trap: the new model's scores ranked against the old model's window flag far below the budget.
    kept = [
        old.policy.route(intake.batch_of(served, frame_of(flow, [{"score": v, "group": "a"} for v in chunk])), frozen)
        for chunk in chunks
    ]
    assert np.mean([r.verdict.value == "review" for routed in kept for r in routed]) < 0.05
    after = [r for chunk in chunks for r in submit(db, served, chunk)]
    assert 0.06 <= np.mean([r.verdict == "review" for r in after]) <= 0.14
    with db.transaction(write=False) as conn:
        versions = conn.execute(
            select(predictions.c.model_version_id, func.count())
            .join(routes, routes.c.prediction_id == predictions.c.id)
            .group_by(predictions.c.model_version_id)
        ).all()
    assert dict(versions) == {old.model_version_id: 200, new.id: 300}


def test_a_seeded_runtime_repeats_its_audit_draws_and_keeps_its_generator_over_a_new_champion(
    db: Database, tmp_path: Path
) -> None:
    project = make_project(tmp_path, db.url, audit={"rate": 0.3})
    flow = project.flow("test-flow")
    scores = np.linspace(0.01, 0.29, 60)  # all below the band: the model decides each, the audit may draw it
    audited = [
        [
            r.verdict == "audit"
            for r in submit(db, intake.load(project, flow, db, draws=np.random.default_rng(5)), scores)
        ]
        for _ in range(2)
    ]
    assert audited[0] == audited[1] and 0 < sum(audited[0]) < 60

    runtimes = intake.prepare(db, project, draws=np.random.default_rng(5))
    draws = runtimes["test-flow"].draws
    new = registry.register(
        db, project, flow, fitted(flow), training_set=training_set(db), metrics={}, parent=None, actor="ann"
    )
    registry.promote(db, project, flow, new.version, actor="ann", reason="better")
    intake.refresh(db, runtimes)
    assert runtimes["test-flow"].model.version == new.version and runtimes["test-flow"].draws is draws


def test_cold_start_reviews_everything_until_a_model_is_promoted(db: Database, tmp_path: Path) -> None:
    project = make_project(tmp_path, db.url, model=None, audit={"rate": 0.5})
    flow = project.flow("test-flow")
    runtimes = intake.prepare(db, project)
    assert registry.champion(db, flow) is None and registry.versions(db, flow) == []
    first = submit(db, runtimes["test-flow"], [0.01, 0.5, 0.99])
    assert {(r.verdict, r.rule, r.reason) for r in first} == {("review", COLD_START_RULE, NO_MODEL)}
    intake.refresh(db, runtimes)
    assert runtimes["test-flow"].model.version == registry.NO_MODEL_VERSION

    new = registry.register(
        db, project, flow, fitted(flow), training_set=training_set(db), metrics={}, parent=None, actor="ann"
    )
    assert new.version == "test-flow-2"  # the stand-in for "no model" holds the first number
    intake.refresh(db, runtimes)
    assert runtimes["test-flow"].model.version == registry.NO_MODEL_VERSION  # a candidate does not serve
    promoted = registry.promote(db, project, flow, new.version, actor="ann", reason="first model")
    assert promoted.rescored == 3  # the three open cases, scored by the first model
    intake.refresh(db, runtimes)
    assert runtimes["test-flow"].model.version == new.version
    second = submit(db, runtimes["test-flow"], [0.01, 0.99])
    assert [r.verdict for r in second] != ["review", "review"] and all(r.rule != COLD_START_RULE for r in second)


def test_a_new_champion_rescores_open_review_cases_beside_the_old_score(db: Database, tmp_path: Path) -> None:
    project = make_project(tmp_path, db.url)
    flow = project.flow("test-flow")
    runtime = intake.prepare(db, project)["test-flow"]
    submitted = submit(db, runtime, [0.45, 0.55, 0.05])  # two flagged by the band, one decided
    flagged = [s.case_id for s in submitted if s.verdict == "review"]
    assert len(flagged) == 2
    new = registry.register(
        db, project, flow, fitted(flow), training_set=training_set(db), metrics={}, parent=None, actor="ann"
    )
    assert registry.rescore(db, project, flow, actor="ann") == 0  # only a champion re-scores
    result = registry.promote(db, project, flow, new.version, actor="ann", reason="better")
    assert result.rescored == 2
    assert registry.rescore(db, project, flow, actor="ann") == 0  # once per case and champion
    with db.transaction(write=False) as conn:
        record = case_store.case_record(conn, flagged[0])
        decided = case_store.case_record(conn, submitted[2].case_id)
    assert record is not None and decided is not None
    assert [p.model_version for p in record.predictions] == ["test-1", new.version]
    old_score, new_score = (p.probabilities[1] for p in record.predictions if p.probabilities is not None)
    assert old_score == pytest.approx(0.45) and new_score != pytest.approx(old_score)
    assert record.routes[0].prediction_id == record.predictions[0].id  # the route keeps the old one
    assert len(decided.predictions) == 1  # a decided case is not re-scored
    (event,) = events(db, "model.rescored")
    assert sorted(event.data["cases"]) == sorted(flagged)
    reasons = [e.data["reason"] for e in events(db, "model.status_changed") if e.data.get("version")]
    assert reasons == ["better (promoted by hand; no gate ran)"]


def test_a_version_that_cannot_serve_is_not_promoted(db: Database, tmp_path: Path) -> None:
    project = make_project(tmp_path, db.url, model=None)
    flow = project.flow("test-flow")
    runtimes = intake.prepare(db, project)
    with pytest.raises(Conflict, match="no model"):
        registry.promote(db, project, flow, registry.NO_MODEL_VERSION, actor="ann", reason="x")
    new = registry.register(
        db, project, flow, fitted(flow), training_set=training_set(db), metrics={}, parent=None, actor="ann"
    )
    artifact = tmp_path / new.uri
    artifact.write_bytes(artifact.read_bytes() + b"\0")  # not the file registered any more
    with pytest.raises(ModelError, match="is not the file registered"):
        registry.promote(db, project, flow, new.version, actor="ann", reason="x")
    assert registry.champion(db, flow) is None and events(db, "model.status_changed") == []
    # promoted behind the registry's back, it is refused by running servers, which keep serving
    registry.set_status(db, flow, new.version, "champion", actor="ann", reason="x")
    intake.refresh(db, runtimes)
    assert runtimes["test-flow"].model.version == registry.NO_MODEL_VERSION
    assert runtimes["test-flow"].champion_id == new.id  # said once, not retried every second


def test_show_lists_the_exact_cases_and_label_sources_of_the_training_set(db: Database, tmp_path: Path) -> None:
    project = scored(db, tmp_path, [0.5] * 40)  # cases 1-40
    flow = project.flow("test-flow")
    training_tables(
        db, [(12, "bad", "review", "train"), (3, "good", "outcome", "train"), (40, "bad", "audit", "validation")]
    )
    new = registry.register(
        db, project, flow, fitted(flow), training_set=training_set(db), metrics={}, parent=None, actor="ann"
    )
    shown = registry.version(db, flow, new.version)
    assert shown.lineage is not None
    assert [(e.case_id, e.source, e.part) for e in shown.lineage.examples] == [
        (3, "outcome", "train"),
        (12, "review", "train"),
        (40, "audit", "validation"),
    ]
    assert shown.lineage.sources == {"audit": 1, "outcome": 1, "review": 1}
    assert shown.lineage.window_end is not None and shown.lineage.window_end.month == 2


@pytest.mark.parametrize("empty_database_url", ["sqlite", "postgresql"], indirect=True)
def test_the_flow_files_models_recorded_before_the_registry_become_champions(empty_database_url: str) -> None:
    db = Database(empty_database_url)
    migrate.upgrade(db, "0013")
    with db.engine.begin() as conn:
        for version in ("test-0", "test-1"):
            conn.execute(
                text(
                    "INSERT INTO model_versions (flow, version, kind, uri, sha256, labels, created_at) "
                    "VALUES ('test-flow', :v, 'python', 'helpers.models:by_score', NULL, '[\"good\", \"bad\"]', :t)"
                ),
                {"v": version, "t": datetime(2026, 1, 1)},
            )
    migrate.upgrade(db)
    found, older = registry.versions(db, make_flow())
    assert (older.version, older.status) == ("test-0", ModelStatus.RETIRED)
    assert (found.status, found.fingerprint, found.training_set_id, found.parent_id) == (
        ModelStatus.CHAMPION,
        None,
        None,
        None,
    )
    assert registry.champion(db, make_flow()) == found
    db.dispose()


def test_concurrent_promotions_leave_one_champion(db: Database, tmp_path: Path) -> None:
    project = make_project(tmp_path, db.url)
    flow = project.flow("test-flow")
    intake.prepare(db, project)
    names = [
        registry.register(
            db, project, flow, fitted(flow, cut=cut), training_set=training_set(db), metrics={}, parent=None, actor="a"
        ).version
        for cut in (0.3, 0.4, 0.6, 0.7)
    ]
    start = threading.Barrier(len(names))

    def promote(name: str) -> None:
        start.wait()
        registry.set_status(db, flow, name, "champion", actor=name, reason="race")

    threads = [threading.Thread(target=promote, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = [v.status for v in registry.versions(db, flow)]
    assert statuses.count(ModelStatus.CHAMPION) == 1 and len(statuses) == 5
