"""The learning loop's case study (bench/loop_case_study.py) at its smallest: it runs through the real loop and
reports every week and data set; its numbers are the benchmark's business, not this test's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a real flow retrained in a separate process

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.skipif(
    not any((p / "shared" / "datasets" / "credit_default.csv").is_file() for p in BENCH.parents),
    reason="shared/datasets/credit_default.csv is not beside this checkout",
)
def test_the_case_study_reports_each_week_of_each_seed(tmp_path: Path) -> None:
    found = tmp_path / "runs.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = ["--seeds", "2", "--weeks", "1", "--datasets", "credit_default", "--jobs", "1", "--json", str(found)]
    done = subprocess.run(
        [sys.executable, str(BENCH / "loop_case_study.py"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "credit_default: the loop ends at or above the never-retrained model in" in done.stdout
    assert "of 2 seeds" in done.stdout
    lines = [json.loads(line) for line in found.read_text(encoding="utf-8").splitlines()]
    runs = {"credit_default": [r["weeks"] for r in sorted(lines, key=lambda r: r["seed"])]}
    assert {r["dataset"] for r in lines} == {"credit_default"}
    assert list(runs) == ["credit_default"] and len(runs["credit_default"]) == 2
    for weeks in runs["credit_default"]:
        assert [w["week"] for w in weeks] == [0, 1]  # the starting point, then one week
        first = weeks[1]
        assert first["cases"] > 0 and 0 < first["flagged"] < first["cases"]
        assert first["reviews"] >= first["flagged"]  # every flagged case (and each audit) was reviewed
        assert 0 <= first["auc"] <= 1 and first["baseline"] == weeks[0]["baseline"]
        assert first["gate"]  # a candidate judged, or the reason there was none


def test_bad_options_are_refused() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "loop_case_study.py"), "--seeds", "0"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "--seeds" in done.stderr
