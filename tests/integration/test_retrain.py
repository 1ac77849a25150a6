"""Retrain runs on both databases: the lifecycle and its audit, the reason nothing was trained, failures, and the
take-over of a run whose worker stopped beating (with a small real pipeline in place of Signoff's own steps)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from helpers import pipeline
from helpers.retraining import age_heartbeat, labelled_project, run_events, run_rows, versions
from signoff.errors import Conflict
from signoff.learning import retrain as retraining
from signoff.learning.retrain import RunLost, Worker, retrain, run_due
from signoff.store.database import Database


def test_a_retrain_registers_a_candidate_and_audits_every_step(db: Database, tmp_path: Path) -> None:
    project = labelled_project(db, tmp_path, 60)
    result = retrain(db, project, project.flow("test-flow"), Worker("owner", steps=pipeline.steps()))
    assert result.status == "done" and result.reason is None and result.version is not None
    assert result.labels == 60 and result.training_set is not None
    assert len(result.training_set.train) + len(result.training_set.validation) == 60 - sum(
        1 for label in pipeline.labels_of(db, "test-flow") if pipeline.held_out(label.case_id)
    )
    assert result.metrics["accuracy"] > 0.9 and result.metrics["n"] >= 1
    [row] = run_rows(db)
    assert (row.status, row.step, row.attempt, row.requested_by) == ("done", "register", 1, "owner")
    assert (row.training_set_id, row.model_version_id) == (result.training_set.id, result.version.id)
    assert row.finished_at is not None and row.error is None and row.warning is None
    events = run_events(db, row.id)
    assert [e.action for e in events] == ["retrain.started"] + ["retrain.step"] * 5 + ["retrain.finished"]
    assert [e.data["step"] for e in events[1:6]] == ["labels", "dataset", "train", "assess", "register"]
    assert events[-1].data["model_version_id"] == result.version.id
    assert project.resolve(result.version.uri).is_file()


def test_too_few_labels_trains_nothing_and_says_why(db: Database, tmp_path: Path) -> None:
    project = labelled_project(db, tmp_path, 10)
    result = retrain(db, project, project.flow("test-flow"), Worker("owner", steps=pipeline.steps()))
    assert result.status == "done" and result.version is None
    assert result.reason == "too few labels: 10 usable, min_labels is 20"
    assert versions(db) == []
    [row] = run_rows(db)
    assert row.status == "done" and row.model_version_id is None
    assert run_events(db, row.id)[-1].data["reason"] == result.reason


def test_a_failing_step_fails_the_run_with_its_reason_and_registers_nothing(db: Database, tmp_path: Path) -> None:
    project = labelled_project(db, tmp_path, 40, {"trainer": "helpers.pipeline:failing_trainer"})
    result = retrain(db, project, project.flow("test-flow"), Worker("owner", steps=pipeline.steps()))
    assert result.status == "failed" and result.error == "ValueError: the trainer found no usable feature"
    [row] = run_rows(db)
    assert (row.status, row.step, row.error) == ("failed", "train", result.error)
    assert run_events(db, row.id)[-1].action == "retrain.failed"
    assert versions(db) == []
    again = retrain(db, project, project.flow("test-flow"), Worker("owner", steps=pipeline.steps()))
    assert again.run_id != row.id  # a failed run is over; the next request is a new run


def test_a_stale_run_is_taken_over_and_completed_and_its_old_worker_fenced_out(db: Database, tmp_path: Path) -> None:
    project = labelled_project(db, tmp_path, 50)
    flow = project.flow("test-flow")
    run_id = retraining._request(db, flow.name, "worker-a", expected_last=None)
    assert run_id is not None
    old = retraining._claim(db, run_id, Worker("worker-a", steps=pipeline.steps(), stale_after=60), reason="test")
    assert old is not None
    with pytest.raises(Conflict, match="being retrained by another worker"):
        retrain(db, project, flow, Worker("worker-b", steps=pipeline.steps(), stale_after=60))
    age_heartbeat(db, run_id, 61)
    result = retrain(db, project, flow, Worker("worker-b", steps=pipeline.steps(), stale_after=60))
    assert result.run_id == run_id and result.resumed and result.version is not None
    assert run_events(db, run_id)[1].data == {"flow": "test-flow", "attempt": 2, "reason": "requested",
                                              "requested_by": "worker-a", "resumed_at_step": None}  # fmt: skip
    with pytest.raises(RunLost):  # the first worker, waking up, can no longer write
        retraining._step(db, old, "worker-a", "train")
    assert [r.status for r in run_rows(db)] == ["done"]


def test_a_run_taken_over_after_its_training_set_reuses_it_and_the_registered_version(
    db: Database, tmp_path: Path
) -> None:
    project = labelled_project(db, tmp_path, 50)
    flow = project.flow("test-flow")
    first = retrain(db, project, flow, Worker("owner", steps=pipeline.steps()))
    assert first.version is not None and first.training_set is not None
    # A worker that died after registering but before it recorded the end: the run is left at "register".
    run_id = retraining._request(db, flow.name, "owner", expected_last=None)
    assert run_id is not None
    claim = retraining._claim(db, run_id, Worker("owner", steps=pipeline.steps(), stale_after=60), reason="test")
    assert claim is not None
    retraining._step(db, claim, "owner", "register", training_set_id=first.training_set.id)
    age_heartbeat(db, run_id, 61)
    result = retrain(db, project, flow, Worker("owner", steps=pipeline.steps(), stale_after=60))
    assert result.training_set is not None and result.training_set.id == first.training_set.id
    assert result.version is not None and result.version.id == first.version.id  # found again, not registered twice
    assert len(versions(db)) == 1


def test_two_workers_start_one_run_of_a_due_retrain(db: Database, tmp_path: Path) -> None:
    project = labelled_project(db, tmp_path, 40, {"schedule": {"every": "nightly", "at": "00:00"}})
    results: list[list[retraining.RetrainResult]] = []
    start = threading.Barrier(2)

    def worker(name: str) -> None:
        start.wait()
        results.append(run_due(db, project, Worker(name, steps=pipeline.steps())))

    threads = [threading.Thread(target=worker, args=(f"worker-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(len(r) for r in results) == [0, 1]
    assert [r.status for r in run_rows(db)] == ["done"]
    assert run_due(db, project, Worker("worker-0", steps=pipeline.steps())) == []  # done for tonight


def test_a_request_made_after_another_was_seen_is_not_made_twice(db: Database, tmp_path: Path) -> None:
    project = labelled_project(db, tmp_path, 5)
    first = retraining._request(db, "test-flow", "a", expected_last=0)
    assert first is not None
    assert retraining._request(db, "test-flow", "b", expected_last=0) == first  # still queued: the same run
    retrain(db, project, project.flow("test-flow"), Worker("a", steps=pipeline.steps()))
    assert retraining._request(db, "test-flow", "b", expected_last=0) is None  # it ran meanwhile: nothing new


def test_after_labels_counts_the_labels_since_the_last_run(db: Database, tmp_path: Path) -> None:
    from helpers.retraining import add_labels

    project = labelled_project(db, tmp_path, 30, {"schedule": {"after_labels": 25}})
    [first] = run_due(db, project, Worker("worker", steps=pipeline.steps()))
    assert first.version is not None
    assert run_due(db, project, Worker("worker", steps=pipeline.steps())) == []
    add_labels(db, project, 24, seed=1)
    assert run_due(db, project, Worker("worker", steps=pipeline.steps())) == []
    add_labels(db, project, 1, seed=2)
    [second] = run_due(db, project, Worker("worker", steps=pipeline.steps()))
    assert second.labels == 55
    started = run_events(db, second.run_id)[0].data
    assert started["reason"] == "25 new labels (after_labels: 25)"
