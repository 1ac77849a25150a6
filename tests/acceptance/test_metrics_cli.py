"""`signoff metrics` and `signoff report` through the real command line, on the example project with its cases."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from helpers.processes import environment, ingested_example, signoff

pytestmark = pytest.mark.slow  # runs signoff processes


def _example(tmp_path: Path) -> tuple[dict[str, str], str]:
    env = environment()
    return env, ingested_example(tmp_path, env)


def test_metrics_table_json_check_report_and_refusals(tmp_path: Path) -> None:
    env, project = _example(tmp_path)

    table = signoff("metrics", "credit-approval", "-p", project, env=env)
    assert table.returncode == 0, table.stderr
    for line in ("flag rate", "turnaround", "SLA compliance", "model accuracy (audit sample)", "largest PSI"):
        assert line in table.stdout

    listed = signoff("metrics", "credit-approval", "--window", "hour", "--json", "-p", project, env=env)
    assert listed.returncode == 0, listed.stderr
    document = json.loads(listed.stdout)
    assert document["flow"] == "credit-approval" and document["window"] == "hour"
    assert document["cases"] > 0 and 0 <= document["flag_rate"] <= 1
    assert document["flagged"] == round(document["flag_rate"] * document["cases"])

    # a threshold the run must cross: at most 0.1% flagged
    path = Path(project)
    flows = yaml.safe_load(path.read_text(encoding="utf-8"))
    flows["flows"]["credit-approval"]["alerts"] = {"min_cases": 1, "flag_rate": {"max": 0.001}}
    path.write_text(yaml.safe_dump(flows), encoding="utf-8")
    checked = signoff("metrics", "credit-approval", "--check", "-p", project, env=env)
    assert checked.returncode == 1
    assert "alert flag_rate_high" in checked.stderr
    verified = signoff("audit", "verify", "-p", project, env=env)
    assert verified.returncode == 0, verified.stderr

    report = tmp_path / "report.html"
    written = signoff("report", "credit-approval", "-o", str(report), "-p", project, env=env)
    assert written.returncode == 0, written.stderr
    html = report.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.count("<svg") >= 4
    # self-contained: nothing is fetched (namespace names inside <svg> are identifiers, not requests)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "url(http" not in html and "@import" not in html and "<script" not in html

    unknown = signoff("metrics", "nope", "-p", project, env=env)
    assert unknown.returncode != 0 and "nope" in unknown.stderr
    window = signoff("metrics", "credit-approval", "--window", "month", "-p", project, env=env)
    assert window.returncode == 2 and "window" in window.stderr
