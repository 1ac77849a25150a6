"""The worker killed with SIGKILL mid-retrain leaves no half-registered version; the next run completes it.

``signoff worker`` (running a scheduled retrain) or ``signoff retrain`` runs as a real process and is killed while
its trainer works, or between writing the model's artifact and registering it; then the other command takes the
abandoned run over once its heartbeat is stale, and completes it: one version, its artifact whole, nothing redone
afterwards."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from helpers.processes import SIGNOFF, environment, signoff
from helpers.retraining import (
    command,
    labelled_project,
    outcome_project,
    run_events,
    run_rows,
    signoff_with_pipeline,
    versions,
)
from signoff.learning import registry
from signoff.store.database import Database

pytestmark = pytest.mark.slow  # starts and kills a retrain process


COMPLETED_BY = {"worker": ["retrain", "test-flow"], "retrain": ["worker", "--once"]}
STARTED_BY = {"worker": ["worker", "--poll", "0.5"], "retrain": ["retrain", "test-flow"]}


@pytest.mark.parametrize(("killed", "step"), [("worker", "train"), ("retrain", "train"), ("retrain", "register")])
def test_a_killed_retrain_leaves_nothing_half_registered_and_the_next_run_completes_it(
    db: Database, tmp_path: Path, killed: str, step: str
) -> None:
    # killed in "train" while the trainer works; in "register" with the artifact written and its row not yet
    learning: dict[str, object] = {"schedule": {"every": "nightly", "at": "00:00"}}
    if step == "train":
        learning["trainer"] = "helpers.pipeline:slow_trainer"
    project = labelled_project(db, tmp_path, 60, learning)
    started, go = tmp_path / "started", tmp_path / "go"
    env = environment(db.url) | {"RETRAIN_STARTED": str(started), "RETRAIN_GO": str(go), "RETRAIN_PAUSE": step}
    where = ["--project", str(project.path), "--stale-after", "2"]
    process = subprocess.Popen(
        command(*STARTED_BY[killed], *where), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while not started.exists():
        assert process.poll() is None, f"signoff {killed} ended before it paused"
        assert time.monotonic() < deadline, "the retrain never reached its pause"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=10) == -signal.SIGKILL

    [run] = run_rows(db)
    assert started.read_text() == step
    assert (run.status, run.step, run.attempt, run.model_version_id) == ("running", step, 1, None)
    assert run.training_set_id is not None
    assert versions(db) == []  # no version: a file without its row is not registered

    go.touch()
    time.sleep(2.5)  # the dead worker's heartbeat goes stale
    completing = signoff_with_pipeline(*COMPLETED_BY[killed], *where, env=env)
    assert completing.returncode == 0, completing.stderr
    assert "(completing an unfinished run): done." in completing.stdout

    [run] = run_rows(db)
    assert (run.status, run.attempt) == ("done", 2)
    [version] = versions(db)
    assert run.model_version_id == version.id
    artifact = project.resolve(version.uri)
    assert hashlib.sha256(artifact.read_bytes()).hexdigest() == version.sha256
    assert [p.name for p in artifact.parent.iterdir()] == [artifact.name]  # no partial file left
    actions = [event.action for event in run_events(db, run.id)]
    assert actions.count("retrain.started") == 2 and actions[-1] == "retrain.finished"
    again = signoff_with_pipeline("worker", "--once", *where, env=env)  # nothing left to do: nothing is redone
    assert again.returncode == 0 and len(run_rows(db)) == 1 and len(versions(db)) == 1


SLOW_TRAINER = '''
"""The default trainer, after writing $RETRAIN_STARTED and waiting for $RETRAIN_GO: a test kills the process
meanwhile."""

import os
import time
from pathlib import Path

from signoff.learning.trainers import default_trainer


def slow(data):
    Path(os.environ["RETRAIN_STARTED"]).write_text("train", encoding="utf-8")
    while not Path(os.environ["RETRAIN_GO"]).exists():
        time.sleep(0.05)
    return default_trainer(data)
'''


def test_signoffs_own_retrain_killed_while_training_is_completed_by_the_next_worker(
    db: Database, tmp_path: Path
) -> None:
    """The same with Signoff's own steps (usable labels from outcomes, a recorded training set, the default
    trainer behind an entry point that waits, the registry): killed while training, completed by ``signoff
    worker --once`` on the training set the dead run recorded; a retrain after that finds the same version."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "slow_training.py").write_text(SLOW_TRAINER, encoding="utf-8")
    project = outcome_project(db, tmp_path, 60, {"trainer": "slow_training:slow"})
    flow = project.flow("test-flow")
    started, go = tmp_path / "started", tmp_path / "go"
    env = environment(db.url) | {"RETRAIN_STARTED": str(started), "RETRAIN_GO": str(go)}
    env["PYTHONPATH"] = f"{plugins}{os.pathsep}{env['PYTHONPATH']}"
    where = ["--project", str(project.path), "--stale-after", "2"]
    process = subprocess.Popen(
        [SIGNOFF, "retrain", "test-flow", *where], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while not started.exists():
        assert process.poll() is None, "signoff retrain ended before its trainer started"
        assert time.monotonic() < deadline, "the retrain never reached its trainer"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=10) == -signal.SIGKILL

    [run] = run_rows(db)
    assert (run.status, run.step, run.attempt, run.model_version_id) == ("running", "train", 1, None)
    assert run.training_set_id is not None
    assert [v for v in registry.versions(db, flow) if v.registered] == []
    assert not project.resolve("models/test-flow").exists()  # not even an artifact

    go.touch()
    time.sleep(2.5)  # the dead process's heartbeat goes stale
    completing = signoff("worker", "--once", *where, env=env)
    assert completing.returncode == 0, completing.stderr
    assert "Retrain run 1 of test-flow (completing an unfinished run): done." in completing.stdout
    [run] = run_rows(db)
    assert (run.status, run.attempt) == ("done", 2)
    [version] = [v for v in registry.versions(db, flow) if v.registered]
    assert (run.model_version_id, version.training_set_id) == (version.id, run.training_set_id)
    artifact = project.resolve(version.uri)
    assert hashlib.sha256(artifact.read_bytes()).hexdigest() == version.sha256
    assert [p.name for p in artifact.parent.iterdir()] == [artifact.name]

    again = signoff("retrain", "test-flow", *where, env=env)
    assert again.returncode == 0, again.stderr
    assert f"  version {version.version} (id {version.id}), a candidate, was registered before" in again.stdout
    [_, second] = run_rows(db)
    assert second.training_set_id == run.training_set_id  # no new labels: the same set, not a copy
