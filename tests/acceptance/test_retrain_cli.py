"""``signoff retrain`` and ``signoff worker`` as a user runs them: the summary, the reason nothing was trained, the
run mirrored to a local MLflow store, and a worker that runs a scheduled retrain and stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from helpers.processes import environment
from helpers.retraining import command, labelled_project, run_rows, signoff_with_pipeline, versions
from signoff.store.database import Database

pytestmark = pytest.mark.slow  # runs the command line as processes


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Database:
    return Database(sqlite_url)


def test_retrain_with_too_few_labels_says_why_nothing_was_trained(sqlite_db: Database, tmp_path: Path) -> None:
    project = labelled_project(sqlite_db, tmp_path, 10)
    done = signoff_with_pipeline("retrain", "test-flow", "-p", str(project.path), env=environment())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "Retrain run 1 of test-flow: nothing trained, too few labels: 10 usable, min_labels is 20."
    )
    unknown = signoff_with_pipeline("retrain", "nope", "-p", str(project.path), env=environment())
    assert unknown.returncode == 1 and "flow 'nope' does not exist" in unknown.stderr


def test_retrain_prints_its_summary_and_mirrors_the_run_to_mlflow(sqlite_db: Database, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    project = labelled_project(sqlite_db, tmp_path, 60, {"mlflow": {"tracking_uri": uri}})
    done = signoff_with_pipeline("retrain", "test-flow", "-p", str(project.path), env=environment())
    assert done.returncode == 0, done.stderr
    [version] = versions(sqlite_db)
    lines = done.stdout.splitlines()
    assert lines[0] == "Retrain run 1 of test-flow: done."
    assert lines[1].startswith("  training set ") and "labels (" in lines[1]
    assert lines[2].startswith("  held-out: accuracy ") and ", n " in lines[2]
    assert lines[3] == f"  registered version {version.version} (id {version.id}) as a candidate"
    assert "Building a training set from 60 labels" in done.stderr  # the progress
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("signoff-test-flow")
    assert experiment is not None
    [run] = client.search_runs([experiment.experiment_id])
    assert "holdout_accuracy" in run.data.metrics and run.data.params["signoff_version"] == version.version
    assert [a.path for a in client.list_artifacts(run.info.run_id, "model")] == [f"model/{Path(version.uri).name}"]
    assert client.get_model_version_by_alias("signoff-test-flow", "challenger").version == 1


def test_the_worker_runs_a_scheduled_retrain_and_stops_on_sigterm(sqlite_db: Database, tmp_path: Path) -> None:
    project = labelled_project(sqlite_db, tmp_path, 40, {"schedule": {"every": "nightly", "at": "00:00"}})
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        worker = subprocess.Popen(
            command("worker", "--poll", "0.5", "-p", str(project.path)), env=environment(), stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 120
        while not [r for r in run_rows(sqlite_db) if r.status == "done"]:
            assert worker.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        time.sleep(1.5)  # three more looks: nothing more is due tonight
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0, log.read_text()
    assert len(run_rows(sqlite_db)) == 1 and len(versions(sqlite_db)) == 1
    assert "Retrain run 1 of test-flow: done." in log.read_text()
