"""Label Studio through the real command line: open review tasks exported with the labeling configuration (both
checked by Label Studio's SDK), annotations imported back as reviews, a bad file refused whole, the audit trail
still verifying; and a training set asked for before one exists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from label_studio_sdk.label_interface import LabelInterface
from label_studio_sdk.label_interface.objects import TaskValue

from helpers.labelstudio import annotate
from helpers.processes import environment, ingested_example, signoff
from signoff.config import load_project

pytestmark = pytest.mark.slow  # runs signoff processes


def test_export_annotate_and_import_from_the_command_line(tmp_path: Path) -> None:
    env = environment()
    project = ["-p", ingested_example(tmp_path, env)]
    flow = load_project(Path(project[1])).flow("credit-approval")
    tasks_file = tmp_path / "tasks.json"
    exported = signoff("labelstudio", "export", "credit-approval", "-o", str(tasks_file), *project, env=env)
    assert exported.returncode == 0, exported.stderr
    tasks = json.loads(tasks_file.read_text(encoding="utf-8"))
    assert f"Wrote {len(tasks)} open review tasks of flow credit-approval to {tasks_file}" in exported.stdout
    interface = LabelInterface((tmp_path / "tasks.xml").read_text(encoding="utf-8"))
    interface.validate()
    for task in tasks:
        TaskValue.model_validate(task)
        assert interface.validate_prediction(task["predictions"][0], return_errors=True) == []

    assert signoff("users", "add", "alice", "--role", "reviewer", *project, env=env).returncode == 0
    assert signoff("users", "add", "ivan", "--role", "intake", *project, env=env).returncode == 0
    for task in tasks[:3]:
        annotate(flow, task, "decline", "too much debt")
    unknown = {"data": {**tasks[0]["data"], "signoff_task": 999_999}}
    annotate(flow, unknown, "approve")
    annotations = tmp_path / "annotations.json"
    annotations.write_text(json.dumps([*tasks, unknown]), encoding="utf-8")

    refused = signoff("labelstudio", "import", "credit-approval", str(annotations), "--as", "alice", *project, env=env)
    assert refused.returncode == 2, refused.stderr
    assert "no review recorded: 1 of 4 refused" in refused.stderr
    assert f"[{len(tasks)}].annotations[0].task: flow 'credit-approval' has no task 999999" in refused.stderr
    annotations.write_text(json.dumps(tasks), encoding="utf-8")
    forbidden = signoff("labelstudio", "import", "credit-approval", str(annotations), "--as", "ivan", *project, env=env)
    assert forbidden.returncode == 1 and "role 'intake' may not do this" in forbidden.stderr

    imported = signoff("labelstudio", "import", "credit-approval", str(annotations), "--as", "alice", *project, env=env)
    assert imported.returncode == 0, imported.stderr
    left = len(tasks) - 3
    said = f"Recorded 3 reviews by alice on flow credit-approval: 3 cases decided; {left} tasks had no annotation"
    assert said in imported.stdout
    again = signoff("labelstudio", "import", "credit-approval", str(annotations), "--as", "alice", *project, env=env)
    assert again.returncode == 2 and "is already completed; case" in again.stderr
    assert "is decided: decline" in again.stderr
    verified = signoff("audit", "verify", *project, env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    reexported = signoff("labelstudio", "export", "credit-approval", "-o", str(tasks_file), *project, env=env)
    assert f"Wrote {left} open review tasks" in reexported.stdout, reexported.stderr
    no_set = signoff("models", "training-set", "credit-approval", "-o", str(tmp_path / "s.parquet"), *project, env=env)
    assert no_set.returncode == 1 and "training set of flow 'credit-approval' does not exist" in no_set.stderr
