"""Outcomes and label validation through the real command line: a file of outcomes, checked whole and replayed
safely; a label conflict found, listed and resolved; the audit trail still verifies."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from helpers.processes import environment, ingested_example, signoff

pytestmark = pytest.mark.slow  # runs signoff processes


def test_outcomes_from_a_file_and_a_conflict_resolved_from_the_command_line(tmp_path: Path) -> None:
    env = environment()
    project = ["-p", ingested_example(tmp_path, env)]
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "external_id,label,observed_at\napp-000000,decline,2026-02-01\napp-000001,maybe,\nnobody,decline,\n",
        encoding="utf-8",
    )
    refused = signoff("outcomes", "credit-approval", str(bad), *project, env=env)
    assert refused.returncode == 2, refused.stderr
    assert "bad.csv:line 3.label" in refused.stderr and "bad.csv:line 4.external_id" in refused.stderr
    assert "nothing was written" in refused.stderr

    good = tmp_path / "outcomes.jsonl"
    rows = [
        {"external_id": "app-000000", "label": "decline", "observed_at": "2026-02-01T00:00:00Z"},
        {"case_id": 2, "label": "approve", "source": "bureau"},
        {"case_id": 2, "label": "decline", "source": "court"},
    ]
    good.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    recorded = signoff("outcomes", "credit-approval", str(good), *project, env=env)
    assert recorded.returncode == 0, recorded.stderr
    assert "Recorded 3 outcomes of flow credit-approval; 0 were recorded before." in recorded.stdout
    assert "Recording" in recorded.stderr  # the progress bar
    again = signoff("outcomes", "credit-approval", str(good), *project, env=env)
    assert "Recorded 0 outcomes of flow credit-approval; 3 were recorded before." in again.stdout, again.stderr
    changed = tmp_path / "changed.csv"
    changed.write_text("case_id,label,source\n2,decline,bureau\n", encoding="utf-8")
    conflict = signoff("outcomes", "credit-approval", str(changed), *project, env=env)
    assert conflict.returncode == 1 and "'approve'" in conflict.stderr and "'decline'" in conflict.stderr

    checked = signoff("labels", "check", "credit-approval", *project, env=env)
    assert checked.returncode == 0, checked.stderr
    assert re.search(r"\d+ conflicts? found in flow credit-approval: \d+ new", checked.stdout)
    listed = signoff("labels", "check", "credit-approval", "--json", *project, env=env)
    found = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
    (mine,) = [c for c in found if c["case_id"] == 2]
    assert mine["kind"] == "outcomes" and mine["resolved"] is False
    resolved = signoff(
        "labels", "resolve", "credit-approval", str(mine["id"]), "--label", "decline", "--reason", "the court ruled",
        *project, env=env,
    )  # fmt: skip
    assert resolved.returncode == 0, resolved.stderr
    assert f"Conflict {mine['id']} (outcomes) on case 2 resolved: decline wins." in resolved.stdout
    shown = signoff("labels", "list", "credit-approval", "--status", "resolved", *project, env=env)
    assert shown.returncode == 0 and "decline by cli" in shown.stdout, shown.stdout
    unknown = signoff("labels", "resolve", "credit-approval", "999999", "--label", "decline", "--reason", "x",
                      *project, env=env)  # fmt: skip
    assert unknown.returncode == 1 and "does not exist" in unknown.stderr
    verified = signoff("audit", "verify", *project, env=env)
    assert verified.returncode == 0, verified.stderr
