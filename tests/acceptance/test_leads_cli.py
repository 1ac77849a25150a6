"""The leads' commands through the real command line: gold cases, skills, conflicts, assignment, the floor."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.processes import environment, ingested_example, signoff
from signoff.sim.credit import applicants

pytestmark = pytest.mark.slow  # runs signoff processes


def test_a_lead_runs_the_floor_from_the_command_line(tmp_path: Path) -> None:
    env = environment()
    project = ["-p", ingested_example(tmp_path, env)]
    assert signoff("users", "add", "alice", "--role", "reviewer", *project, env=env).returncode == 0

    gold = tmp_path / "gold.csv"
    applicants(5, seed=3).to_csv(gold, index=False)
    added = signoff("gold", "add", "credit-approval", str(gold), *project, env=env)
    assert added.returncode == 0, added.stderr
    assert "Added 5 gold cases to flow credit-approval." in added.stdout

    skills = signoff("users", "skills", "alice", "spanish", "fraud", *project, env=env)
    assert skills.returncode == 0 and "alice: fraud, spanish" in skills.stdout
    assigned = signoff("assign", "1", "alice", *project, env=env)
    assert assigned.returncode == 0 and "task 1: assigned to alice" in assigned.stdout
    conflicted = signoff("users", "conflict", "alice", "1", "--reason", "knows the applicant", *project, env=env)
    assert conflicted.returncode == 0, conflicted.stderr
    floor = signoff("reviewers", *project, env=env)
    assert floor.returncode == 0 and "No gold answers yet." in floor.stdout, floor.stderr
    not_paused = signoff("users", "unpause", "alice", "credit-approval", "default", *project, env=env)
    assert not_paused.returncode == 1 and "does not exist" in not_paused.stderr
    verified = signoff("audit", "verify", *project, env=env)
    assert verified.returncode == 0, verified.stderr


def test_roles_are_granted_and_revoked_per_flow_from_the_command_line(tmp_path: Path) -> None:
    env = environment()
    project = ["-p", ingested_example(tmp_path, env)]
    added = signoff("users", "add", "fay", "--role", "reviewer", "--flow", "credit-approval", *project, env=env)
    assert added.returncode == 0 and "fay (reviewer on credit-approval)" in added.stdout, added.stderr
    granted = signoff("users", "grant", "fay", "lead", "--flow", "credit-approval", *project, env=env)
    assert granted.returncode == 0 and "lead on credit-approval, reviewer on credit-approval" in granted.stdout
    revoked = signoff("users", "revoke", "fay", "reviewer", "--flow", "credit-approval", *project, env=env)
    assert revoked.returncode == 0 and "fay: lead on credit-approval" in revoked.stdout, revoked.stderr
    last = signoff("users", "revoke", "fay", "lead", "--flow", "credit-approval", *project, env=env)
    assert last.returncode == 1 and "would hold no role at all" in last.stderr
    missing = signoff("users", "revoke", "fay", "auditor", *project, env=env)
    assert missing.returncode == 1 and "auditor on * for fay" in missing.stderr
    listed = signoff("users", "list", *project, env=env)
    assert listed.returncode == 0 and "lead on credit-approval" in listed.stdout
    verified = signoff("audit", "verify", *project, env=env)
    assert verified.returncode == 0, verified.stderr
