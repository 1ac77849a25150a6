"""`signoff plan` and `signoff simulate` through the real command line: the table, the HTML page, and refusals
that name what is wrong."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers.processes import environment, signoff
from helpers.simulation import reviewed_project

pytestmark = pytest.mark.slow  # runs signoff processes


def test_plan_prints_reviewers_by_flag_rate_and_writes_a_page(tmp_path: Path) -> None:
    env = environment()
    reviewed_project(tmp_path, sla=7200)
    project = str(tmp_path / "signoff.yaml")
    args = ("plan", "test-flow", "--arrivals", "1200", "--service-time", "6m", "-p", project)
    shown = signoff(*args, "--flag-rate", "0.07", "--flag-rate", "0.1", "-o", str(tmp_path / "plan.html"), env=env)
    assert shown.returncode == 0, shown.stderr
    # 84 reviews an hour of 6 minutes is 8.4 erlangs: 9 reviewers, the fewest that keep up, wait 7.8 minutes on
    # average and decide nearly all within 2 hours
    assert re.search(r"7\.0%.*84\.0.*8\.40.*│\s*9\s*│.*7\.8", shown.stdout), shown.stdout
    page = (tmp_path / "plan.html").read_text(encoding="utf-8")
    assert 'role="img" aria-label="Reviewers needed to decide 95% of flagged cases within 2 hours' in page

    too_strict = signoff(*args, "--sla", "5m", "--target", "0.99", env=env)
    assert too_strict.returncode == 2 and "no number of reviewers meets 99.0% within 300 s" in too_strict.stderr
    not_a_duration = signoff(*args, "--sla", "soon", env=env)
    assert not_a_duration.returncode == 2 and "'soon' is not a duration" in not_a_duration.stderr


def test_simulate_writes_its_report_and_refuses_a_bad_scenario(tmp_path: Path) -> None:
    env = environment()
    reviewed_project(tmp_path, sla=3600)
    project = str(tmp_path / "signoff.yaml")
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        "flow: test-flow\nduration: 4h\ncases: {file: cases.csv}\narrivals: {per_hour: 10}\n"
        "reviewers: [{name: desk, size: 2, service_time: {mean: 10m}}]\n",
        encoding="utf-8",
    )
    ran = signoff("simulate", str(scenario), "-o", str(tmp_path / "report.html"), "-p", project, env=env)
    assert ran.returncode == 0, ran.stderr
    assert "Wrote" in ran.stdout and (tmp_path / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE")

    scenario.write_text("flow: test-flow\nduration: 4h\n", encoding="utf-8")
    refused = signoff("simulate", str(scenario), "-p", project, env=env)
    assert refused.returncode == 2 and "cases: Field required" in refused.stderr
