"""A retrain mirrored to a local MLflow store (SQLite, not a mock): the run's params, held-out metrics and artifact,
the registered model version, and the aliases champion and challenger following Signoff's statuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from helpers import pipeline
from helpers.retraining import add_labels, labelled_project, run_events, run_rows
from signoff.config.flows import MlflowSpec
from signoff.learning import tracking
from signoff.learning.retrain import Worker, retrain, sync_mlflow_aliases
from signoff.store.database import Database


def mlflow_store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"


def aliases(client: MlflowClient) -> dict[str, str]:
    return {alias: str(version) for alias, version in client.get_registered_model("signoff-test-flow").aliases.items()}


def test_a_retrain_is_logged_registered_and_aliased_in_mlflow(sqlite_url: str, tmp_path: Path) -> None:
    uri = mlflow_store(tmp_path)
    (tmp_path / "mlflow").mkdir()
    db = Database(sqlite_url)
    project = labelled_project(db, tmp_path, 60, {"mlflow": {"tracking_uri": uri}})
    flow = project.flow("test-flow")
    registry = pipeline.Registry()
    first = retrain(db, project, flow, Worker("owner", steps=registry.steps()))
    assert first.warning is None and first.version is not None and first.training_set is not None

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("signoff-test-flow")
    assert experiment is not None
    [run] = client.search_runs([experiment.experiment_id])
    assert run.data.params["training_set_id"] == str(first.training_set.id)
    assert run.data.params["train_size"] == str(len(first.training_set.train))
    assert run.data.params["signoff_version"] == first.version.version
    assert run.data.metrics["holdout_accuracy"] == pytest.approx(first.metrics["accuracy"])
    assert run.data.tags[tracking.RUN_TAG] == str(first.run_id)
    [artifact] = client.list_artifacts(run.info.run_id, "model")
    assert artifact.path == f"model/{Path(first.version.uri).name}" and artifact.file_size > 0
    assert Path(client.download_artifacts(run.info.run_id, artifact.path, str(tmp_path))).read_bytes() == (
        project.resolve(first.version.uri).read_bytes()
    )
    [mv] = client.search_model_versions("name = 'signoff-test-flow'")
    assert mv.tags[tracking.VERSION_TAG] == str(first.version.id) and mv.run_id == run.info.run_id
    assert aliases(client) == {"challenger": "1"}
    [row] = run_rows(db)
    assert row.mlflow_run_id == run.info.run_id
    assert [e.data["step"] for e in run_events(db, row.id) if e.action == "retrain.step"][-1] == "mlflow"

    registry.statuses[first.version.id] = "champion"  # promoted: the aliases follow
    sync_mlflow_aliases(db, flow, registry.steps())
    assert aliases(client) == {"champion": "1"}
    add_labels(db, project, 40, seed=1)
    second = retrain(db, project, flow, Worker("owner", steps=registry.steps()))
    assert second.version is not None and second.version.id != first.version.id
    assert aliases(client) == {"champion": "1", "challenger": "2"}
    assert len(client.search_runs([experiment.experiment_id])) == 2
    db.dispose()


def test_logging_a_taken_over_run_again_makes_no_second_mlflow_run_or_version(tmp_path: Path) -> None:
    spec = MlflowSpec(tracking_uri=mlflow_store(tmp_path))
    (tmp_path / "mlflow").mkdir()
    artifact = tmp_path / "model.skops"
    artifact.write_bytes(b"model")
    training_set = pipeline.TrainingSetForTests.make()
    logged = tracking.Logged(7, "r-abc", artifact)
    first = tracking.log_retrain(
        spec, "test-flow", run_id=3, training_set=training_set, metrics={"auc": 0.9}, version=logged, trainer="x"
    )
    again = tracking.log_retrain(
        spec, "test-flow", run_id=3, training_set=training_set, metrics={"auc": 0.9}, version=logged, trainer="x"
    )
    assert first == again
    client = MlflowClient(tracking_uri=spec.tracking_uri, registry_uri=spec.tracking_uri)
    assert len(client.search_model_versions("name = 'signoff-test-flow'")) == 1


def test_mlflow_failing_leaves_the_retrain_done_with_a_warning(db: Database, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the MLflow store's folder should be", encoding="utf-8")
    project = labelled_project(db, tmp_path, 40, {"mlflow": {"tracking_uri": f"sqlite:///{blocker}/mlflow.db"}})
    result = retrain(db, project, project.flow("test-flow"), Worker("owner", steps=pipeline.steps()))
    assert result.status == "done" and result.version is not None
    assert result.warning is not None and result.warning.startswith("MLflow: ")
    [row] = run_rows(db)
    assert (row.status, row.model_version_id, row.warning) == ("done", result.version.id, result.warning)
    assert run_events(db, row.id)[-1].data["warning"] == result.warning
