"""Retraining with Signoff's own steps (``signoff_steps``: training_labels, datasets, the default trainer, assess,
the registry), on both databases: a retrain with no new labels gives the same set and version; a run whose worker
died just after recording its training set is completed on that set, not on a copy; and the MLflow aliases follow
a promotion."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from sqlalchemy import func, select

from helpers.retraining import add_labels, add_outcomes, age_heartbeat, outcome_project, run_rows
from signoff.config.flows import MlflowSpec
from signoff.learning import datasets, registry
from signoff.learning.retrain import Worker, retrain, signoff_steps
from signoff.store.database import Database
from signoff.store.schema import training_sets


class Killed(BaseException):
    """Stands for SIGKILL: no ``except Exception`` sees it, so the run is left as a dead worker leaves it."""


def _sets(db: Database) -> int:
    with db.transaction(write=False) as conn:
        return int(conn.execute(select(func.count()).select_from(training_sets)).scalar_one())


def test_retraining_with_no_new_labels_gives_the_same_set_and_the_same_version(db: Database, tmp_path: Path) -> None:
    project = outcome_project(db, tmp_path, 80)
    flow = project.flow("test-flow")
    first = retrain(db, project, flow, Worker("owner"))
    assert first.status == "done", first.error
    assert first.version is not None and first.training_set is not None
    found = registry.version(db, flow, first.version.version)
    assert found.lineage is not None and found.fingerprint is not None
    assert {e.case_id for e in found.lineage.examples} == {
        x.case_id for x in (*first.training_set.train, *first.training_set.validation)
    }
    assert found.lineage.sources == {"outcome": len(found.lineage.examples)}

    again = retrain(db, project, flow, Worker("owner"))
    assert again.status == "done" and again.training_set is not None and again.version is not None
    assert again.training_set.id == first.training_set.id and _sets(db) == 1
    assert again.version.id == first.version.id  # a deterministic trainer: the same fingerprint, found again
    assert not again.new_version and first.new_version
    assert [v.version for v in registry.versions(db, flow) if v.registered] == [first.version.version]

    add_labels(db, project, 20, seed=1)
    add_outcomes(db, project)
    third = retrain(db, project, flow, Worker("owner"))
    assert third.training_set is not None and third.version is not None and third.new_version
    assert third.training_set.id != first.training_set.id and third.version.id != first.version.id
    assert third.version.status == "candidate"


def test_a_run_killed_after_recording_its_training_set_is_completed_on_that_set(db: Database, tmp_path: Path) -> None:
    project = outcome_project(db, tmp_path, 60)
    flow = project.flow("test-flow")

    def build_then_die(*args: Any, **kwargs: Any) -> Any:
        datasets.build(*args, **kwargs)
        raise Killed  # the set is recorded; the run never recorded its id

    with pytest.raises(Killed):
        retrain(db, project, flow, Worker("owner", steps=dataclasses.replace(signoff_steps(), build=build_then_die)))
    [run] = run_rows(db)
    assert (run.status, run.step, run.training_set_id) == ("running", "dataset", None)
    assert _sets(db) == 1
    age_heartbeat(db, run.id, 61)
    result = retrain(db, project, flow, Worker("owner", stale_after=60))
    assert result.status == "done" and result.resumed and result.training_set is not None
    assert _sets(db) == 1  # the orphan is the run's set now
    [run] = run_rows(db)
    assert (run.status, run.training_set_id) == ("done", result.training_set.id)


def test_promoting_moves_the_mlflow_aliases(sqlite_url: str, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    db = Database(sqlite_url)
    project = outcome_project(db, tmp_path, 60, {"mlflow": {"tracking_uri": uri}})
    flow = project.flow("test-flow")
    first = retrain(db, project, flow, Worker("owner"))
    assert first.version is not None and first.warning is None
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    def aliases() -> dict[str, str]:
        return {a: str(v) for a, v in client.get_registered_model("signoff-test-flow").aliases.items()}

    assert aliases() == {"challenger": "1"}
    promoted = registry.promote(db, project, flow, first.version.version, actor="owner", reason="better")
    assert promoted.warning is None and aliases() == {"champion": "1"}
    add_labels(db, project, 20, seed=1)
    add_outcomes(db, project)
    second = retrain(db, project, flow, Worker("owner"))
    assert second.version is not None and aliases() == {"champion": "1", "challenger": "2"}
    registry.set_status(db, flow, second.version.version, "shadow", actor="owner", reason="watch it")
    assert aliases() == {"champion": "1"}  # a shadow is no longer the challenger
    db.dispose()


def test_promoting_with_mlflow_unreachable_promotes_and_warns(db: Database, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the MLflow store's folder should be", encoding="utf-8")
    project = outcome_project(db, tmp_path, 60)
    flow = project.flow("test-flow")
    first = retrain(db, project, flow, Worker("owner"))
    assert first.version is not None
    learning = flow.learning.model_copy(update={"mlflow": MlflowSpec(tracking_uri=f"sqlite:///{blocker}/m.db")})
    broken = flow.model_copy(update={"learning": learning})
    promoted = registry.promote(db, project, broken, first.version.version, actor="owner", reason="better")
    assert promoted.version.status == "champion"
    assert promoted.warning is not None and promoted.warning.startswith("MLflow: ")
