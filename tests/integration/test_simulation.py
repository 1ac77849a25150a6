"""The simulator drives the engine itself: for M/M/c settings its waits agree with Erlang C; a scenario's report
is one self-contained HTML file; a scenario that is not one is refused, naming where."""

from __future__ import annotations

import re
import statistics
from pathlib import Path

import pytest

from helpers.simulation import SERVICE, reviewed_project, scenario, simulated
from signoff.errors import ConfigError
from signoff.metrics import queueing
from signoff.sim.scenario import parse_scenario


@pytest.mark.slow
@pytest.mark.parametrize("reviewers", [1, 2, 4])
def test_waits_agree_with_erlang_c(tmp_path: Path, reviewers: int) -> None:
    rate = 0.5 * reviewers / SERVICE  # review tasks per second: reviewers busy half the time
    cases = 4000
    project = reviewed_project(tmp_path)
    result, _ = simulated(tmp_path, project, scenario(reviewers, rate * 3600, cases / rate / 3600))
    waits = result.waits[len(result.waits) // 10 :]  # the first tenth starts from an empty queue
    assert len(waits) > 0.8 * cases
    assert statistics.fmean(waits) == pytest.approx(queueing.mean_wait(reviewers, rate, SERVICE), rel=0.10)
    waited = sum(w > 0 for w in waits) / len(waits)
    assert waited == pytest.approx(queueing.erlang_c(reviewers, rate * SERVICE), rel=0.10)


def test_a_run_goes_through_the_engine_and_reports_it(tmp_path: Path) -> None:
    project = reviewed_project(tmp_path, sla=3600)
    document = scenario(2, 9, 8, outcomes={"delay": "2h"})
    result, html = simulated(tmp_path, project, document)
    assert result.cases > 40 and result.sent_to_review == result.cases
    assert result.pools["desk"].reviews == len(result.decided) > 0
    assert result.outcomes > 0
    assert html.startswith("<!DOCTYPE html>") and "Signoff simulation: test-flow" in html
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html)  # nothing loaded from elsewhere
    labels = re.findall(r'<figure role="img" aria-label="([^"]+)"', html)
    assert len(labels) >= 3 and all(len(label) > 30 for label in labels)
    assert html.count("<figure") == len(labels)  # every chart has its text alternative


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"duration": "soon"}, "duration"),
        ({"arrivals": {"per_hour": 0}}, "arrivals.per_hour"),
        ({"arrivals": {"per_hour": 5, "by_hour": [1, 2]}}, "arrivals.by_hour"),
        ({"cases": {"file": "x.csv", "generator": "credit"}}, "cases.generator"),
        ({"reviewers": []}, "reviewers"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_a_scenario_that_is_not_one_is_refused_naming_where(
    tmp_path: Path, change: dict[str, object], where: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"- {where}:")):
        parse_scenario({**scenario(1, 1, 1), **change}, tmp_path / "scenario.yaml")
