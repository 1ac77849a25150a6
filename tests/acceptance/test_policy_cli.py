"""`signoff policy check` and `signoff policy evaluate` through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers.builders import make_project
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


def _replay_project(tmp_path: Path, model: str = "by_score", calibration: pd.DataFrame | None = None) -> Path:
    """A small flow with a certified rule, calibrated on a file of ``score``/``label`` rows, its database a SQLite
    file that does not exist yet: the project file's path."""
    rng = np.random.default_rng(7)
    if calibration is None:
        scores = rng.uniform(0, 1, 2000)
        calibration = pd.DataFrame({"score": scores, "group": "a", "label": _labels(scores, rng)})
    calibration.to_csv(tmp_path / "calibration.csv", index=False)
    make_project(
        tmp_path,
        f"sqlite:///{tmp_path / 'signoff.db'}",
        model={"kind": "python", "entry_point": f"helpers.models:{model}", "version": "m-1"},
        policy=[{"name": "certified", "kind": "certified", "alpha": 0.1}],
        calibration={"file": "calibration.csv"},
    )
    return tmp_path / "signoff.yaml"


def _labels(scores: np.ndarray, rng: np.random.Generator) -> list[str]:
    """Labels drawn at the model's own probability of ``bad``: a calibrated model."""
    return ["bad" if bad else "good" for bad in rng.uniform(0, 1, scores.size) < scores]


def _labelled(tmp_path: Path, n: int = 500) -> Path:
    rng = np.random.default_rng(8)
    scores = rng.uniform(0, 1, n)
    path = tmp_path / "labelled.csv"
    pd.DataFrame({"score": scores, "group": "a", "label": _labels(scores, rng)}).to_csv(path, index=False)
    return path


def test_evaluate_counts_unscored_cases_and_calibration_rows_instead_of_failing(tmp_path: Path) -> None:
    project = _replay_project(tmp_path, model="nan_for_negative")  # NaN for every score > 0.9
    labelled = _labelled(tmp_path)
    above = int((pd.read_csv(labelled)["score"] > 0.9).sum())
    dropped = int((pd.read_csv(tmp_path / "calibration.csv")["score"] > 0.9).sum())
    env = environment()
    shown = signoff("policy", "evaluate", "test-flow", "--labeled", str(labelled), "-p", str(project), env=env)
    assert shown.returncode == 0, shown.stderr
    assert f"│ unscored by the model (sent to review) │ {above} " in shown.stdout
    assert f"{above} case(s) the model could not score count as deferred: coverage stops at" in shown.stdout
    assert f"warning: {dropped} calibration row(s) the model could not score were left out" in shown.stderr
    arguments = ("policy", "evaluate", "test-flow", "--labeled", str(labelled), "--json", "-p", str(project))
    as_json = signoff(*arguments, env=env)
    result = json.loads(as_json.stdout)
    assert result["cases"] == 500 and result["unscored"] == above
    assert result["by_rule"]["invalid-model-output"] == above  # routing sends each of them to review
    assert result["table"][-1][0] == pytest.approx((500 - above) / 500)
    (certificate,) = result["certificates"]
    assert certificate["certified"] and certificate["calibration_size"] == 2000 - dropped


def test_evaluate_names_a_missing_label_column_once(tmp_path: Path) -> None:
    project = _replay_project(tmp_path)
    labelled = _labelled(tmp_path)
    pd.read_csv(labelled).drop(columns="label").to_csv(labelled, index=False)
    env = environment()
    shown = signoff("policy", "evaluate", "test-flow", "--labeled", str(labelled), "-p", str(project), env=env)
    assert shown.returncode == 2
    assert shown.stderr.strip() == f"error: invalid input: {labelled}: has no label column 'label'"


def test_evaluate_warns_of_a_one_class_and_a_tiny_calibration_file_and_creates_no_database(tmp_path: Path) -> None:
    calibration = pd.DataFrame({"score": np.linspace(0, 0.2, 120), "group": "a", "label": "good"})
    project = _replay_project(tmp_path, calibration=calibration)
    env = environment()
    labelled = _labelled(tmp_path)
    shown = signoff("policy", "evaluate", "test-flow", "--labeled", str(labelled), "-p", str(project), env=env)
    assert shown.returncode == 0, shown.stderr
    assert "warning: every one of the 120 verified calibration cases is labelled 'good'" in shown.stderr
    # (1 - 0.1) ** n <= 0.05 first holds at n = 29: 120 cases are enough here, so no "tiny" warning
    assert "a certificate needs at least" not in shown.stderr
    # all 120 are right at confidence >= 0.8, so the rule certifies: the warning is what tells the user
    assert "threshold 0.8, alpha 0.1, delta 0.05, 120 calibration cases, learn-then-test" in shown.stdout
    checked = signoff("policy", "check", "-p", str(project), env=env)
    assert "certified: threshold" in checked.stdout and "labelled 'good'" in checked.stderr
    assert not (tmp_path / "signoff.db").exists()  # a replay records nothing, and opens no empty database


def test_evaluate_several_alphas_in_one_call_each_with_its_certificate_or_refusal(tmp_path: Path) -> None:
    project = _replay_project(tmp_path)
    labelled = _labelled(tmp_path)
    env = environment()
    as_json = signoff(
        "policy", "evaluate", "test-flow", "--labeled", str(labelled), "-p", str(project), "--json",
        "--alpha", "0.001", "--alpha", "0.1", env=env,
    )  # fmt: skip
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    strict, loose = document["variants"]
    assert (strict["alpha"], loose["alpha"]) == (0.001, 0.1)
    (refused,) = strict["certificates"]
    assert not refused["certified"] and refused["threshold"] is None and refused["alpha"] == 0.001
    assert refused["reason"] == "2,000 verified calibration cases, at least 2,995 are needed"
    (granted,) = loose["certificates"]
    assert granted["certified"] and granted["alpha"] == 0.1 and granted["delta"] == 0.05
    assert granted["calibration_size"] == 2000 and granted["method"] == "learn-then-test"
    assert 0.5 < granted["threshold"] < 1
    assert strict["flag_rate"] == 1.0 and loose["flag_rate"] < 1.0
    tiny = "certified: 2,000 verified calibration case(s); at alpha 0.001 and delta 0.05 a certificate needs at least"
    assert [w for w in document["calibration_warnings"] if w.startswith(tiny)]
    shown = signoff(
        "policy", "evaluate", "test-flow", "--labeled", str(labelled), "-p", str(project),
        "--alpha", "0.001", "--alpha", "0.1", env=env,
    )  # fmt: skip
    assert "Policy replay: test-flow, alpha 0.001" in shown.stdout
    assert "Policy replay: test-flow, alpha 0.1" in shown.stdout
    assert shown.stdout.count("Risk-coverage (model alone)") == 1
    assert f"warning: {tiny} 2,995, even if the model made no error" in shown.stderr


def test_evaluate_several_policy_files_in_one_call_each_with_its_alphas(tmp_path: Path) -> None:
    """Each --policy file replaces the flow's rules; with two alphas, four variants, the cases scored once. A bad
    policy file is refused with its problems before anything is scored."""
    project = _replay_project(tmp_path)
    labelled = _labelled(tmp_path)
    (tmp_path / "band.yaml").write_text(
        yaml.safe_dump(
            [{"name": "middle", "kind": "band", "label": "bad", "low": 0.3, "high": 0.7, "review": "inside"}]
        ),
        "utf-8",
    )
    (tmp_path / "both.yaml").write_text(
        yaml.safe_dump(
            [
                {"name": "middle", "kind": "band", "label": "bad", "low": 0.3, "high": 0.7, "review": "inside"},
                {"name": "certified", "kind": "certified", "alpha": 0.1},
            ]
        ),
        "utf-8",
    )
    env = environment()
    arguments = ["policy", "evaluate", "test-flow", "--labeled", str(labelled), "-p", str(project)]
    both = ["--policy", str(tmp_path / "band.yaml"), "--policy", str(tmp_path / "both.yaml")]
    as_json = signoff(*arguments, *both, "--alpha", "0.05", "--alpha", "0.1", "--json", env=env)
    assert as_json.returncode == 0, as_json.stderr
    variants = json.loads(as_json.stdout)["variants"]
    assert [(v["policy"], v["alpha"]) for v in variants] == [
        ("band.yaml", 0.05), ("band.yaml", 0.1), ("both.yaml", 0.05), ("both.yaml", 0.1)
    ]  # fmt: skip
    scores = pd.read_csv(labelled)["score"]
    middle = int(((scores >= 0.3) & (scores <= 0.7)).sum())
    assert variants[0]["certificates"] == [] and variants[0]["by_rule"]["middle"] == middle
    assert [c["alpha"] for v in variants[2:] for c in v["certificates"]] == [0.05, 0.1]
    assert all(v["cases"] == 500 for v in variants)
    shown = signoff(*arguments, "--policy", str(tmp_path / "band.yaml"), env=env)
    assert "Policy replay: test-flow, band.yaml" in shown.stdout
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump([{"name": "t", "kind": "band", "label": "nope"}]), "utf-8")
    refused = signoff(*arguments, "--policy", str(tmp_path / "bad.yaml"), env=env)
    assert refused.returncode != 0 and f"{tmp_path / 'bad.yaml'} is not a valid Signoff configuration" in refused.stderr
    assert "policy[0].band.low: Field required" in refused.stderr


def _documented(command: str) -> list[str]:
    """The lines a console block of docs/reference/cli.md shows after ``$ command``, up to a ``...`` line."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    block = page.split(f"$ {command}\n", 1)[1].split("```", 1)[0]
    return block.split("\n...\n", 1)[0].rstrip("\n").splitlines()


def test_the_documented_replays_print_what_the_reference_shows(tmp_path: Path) -> None:
    env = environment() | {"COLUMNS": "120"}
    folder = tmp_path / "project"
    assert signoff("init", str(folder), env=env).returncode == 0
    applicants(2000, seed=7).to_csv(folder / "calibration.csv", index=False)
    applicants(1000, seed=99).to_csv(folder / "labelled.csv", index=False)
    document = yaml.safe_load((folder / "signoff.yaml").read_text(encoding="utf-8"))
    flow = document["flows"]["credit-approval"]
    flow["policy"] = [{"name": "certified-5pct", "kind": "certified", "alpha": 0.05}]
    flow["audit"] = {"rate": 0.0}
    flow["calibration"] = {"file": "calibration.csv"}
    (folder / "signoff.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    for command in (
        "signoff policy evaluate credit-approval --labeled labelled.csv --plot curve.png",
        "signoff policy evaluate credit-approval --labeled labelled.csv --alpha 0.01 --alpha 0.05",
    ):
        shown = signoff(*command.split()[1:], env=env, cwd=folder)
        assert shown.returncode == 0, shown.stderr
        expected = _documented(command)
        assert [line.rstrip() for line in shown.stdout.splitlines()][: len(expected)] == expected
    assert not (folder / "signoff.db").exists()
