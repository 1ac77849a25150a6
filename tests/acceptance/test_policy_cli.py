"""`signoff policy check` and `signoff policy evaluate` through the real command line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helpers.processes import environment, signoff
from signoff.sim.credit import applicants

pytestmark = pytest.mark.slow  # runs signoff processes


def test_check_and_evaluate_the_example_policy_with_a_plot(tmp_path: Path) -> None:
    env = environment()
    folder = tmp_path / "project"
    assert signoff("init", str(folder), env=env).returncode == 0
    project = str(folder / "signoff.yaml")
    checked = signoff("policy", "check", "-p", project, env=env)
    assert checked.returncode == 0, checked.stderr
    assert "ok credit-approval: policy" in checked.stdout and "uncertain-risk (band)" in checked.stdout
    labelled = tmp_path / "labelled.csv"
    applicants(3000, seed=99).to_csv(labelled, index=False)
    plot = tmp_path / "curve.png"
    evaluated = signoff(
        "policy", "evaluate", "credit-approval", "--labeled", str(labelled), "--plot", str(plot), "-p", project, env=env
    )
    assert evaluated.returncode == 0, evaluated.stderr
    for line in (
        "Policy replay: credit-approval",
        "flag rate (sent to review)",
        "model errors sent to review",
        "error on auto-decided cases",
        "Risk-coverage (model alone)",
    ):
        assert line in evaluated.stdout
    assert "│ labelled cases " in evaluated.stdout and "│ 3000 " in evaluated.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000


def test_check_names_a_bad_business_rule(tmp_path: Path) -> None:
    env = environment()
    folder = tmp_path / "project"
    signoff("init", str(folder), env=env)
    document = yaml.safe_load((folder / "signoff.yaml").read_text(encoding="utf-8"))
    document["flows"]["credit-approval"]["policy"].append(
        {"name": "big-loans", "kind": "expression", "when": "loan_amount > 50000 and __import__('os')"}
    )
    (folder / "signoff.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    checked = signoff("policy", "check", "-p", str(folder / "signoff.yaml"), env=env)
    assert checked.returncode == 2
    assert "flows.credit-approval.policy[2].when" in checked.stderr


def test_evaluate_refuses_a_file_with_unknown_labels(tmp_path: Path) -> None:
    env = environment()
    folder = tmp_path / "project"
    signoff("init", str(folder), env=env)
    labelled = tmp_path / "labelled.csv"
    frame = applicants(5, seed=1)
    frame["label"] = "maybe"
    frame.to_csv(labelled, index=False)
    evaluated = signoff(
        "policy", "evaluate", "credit-approval", "--labeled", str(labelled), "-p", str(folder / "signoff.yaml"), env=env
    )
    assert evaluated.returncode == 2
    assert "labelled.csv:line 2.label: must be one of ['approve', 'decline'], got 'maybe'" in evaluated.stderr
