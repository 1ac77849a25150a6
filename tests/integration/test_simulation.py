"""The simulator drives the engine itself: for M/M/c settings its waits agree with Erlang C; a scenario's report
is one self-contained HTML file; a scenario that is not one is refused, naming where."""

from __future__ import annotations

import heapq
import re
import statistics
from pathlib import Path

import numpy as np
import pytest

from helpers.simulation import SERVICE, reviewed_project, scenario, simulated
from signoff.errors import ConfigError
from signoff.metrics import queueing
from signoff.sim.example import write_example
from signoff.sim.scenario import load_scenario, parse_scenario, resolve


def _first_come_first_served(arrivals: list[float], services: list[float], reviewers: int) -> list[float]:
    """The waits of an M/M/c queue served in arrival order, by the Kiefer-Wolfowitz recursion: each case goes to
    the reviewer free first, and starts when both are there."""
    free = [0.0] * reviewers
    waits = []
    for arrival, service in zip(arrivals, services, strict=False):
        start = max(arrival, heapq.heappop(free))
        waits.append(start - arrival)
        heapq.heappush(free, start + service)
    return waits


@pytest.mark.parametrize(("reviewers", "utilisation"), [(1, 0.8), (2, 0.85), (5, 0.9)])
def test_the_engine_is_an_m_m_c_queue_whose_waits_agree_with_erlang_c(
    tmp_path: Path, reviewers: int, utilisation: float
) -> None:
    """Two steps, because the mean wait of a busy queue converges slowly (at 4,000 cases and half the time busy,
    runs of the same setting still differ by more than 10%, in the engine and in a bare loop alike): the engine,
    run on its own draws of arrivals and review times, gives every case exactly the wait of the first-come,
    first-served M/M/c queue on those draws; and that queue, run long, agrees with Erlang C within 10%."""
    rate = utilisation * reviewers / SERVICE  # review tasks per second
    project = reviewed_project(tmp_path)
    result, _ = simulated(tmp_path, project, scenario(reviewers, rate * 3600, 300 / rate / 3600))
    assert len(result.waits) > 250 and sum(w > 0 for w in result.waits) > 50  # the queue was busy
    queue = _first_come_first_served(result.arrivals, result.services, reviewers)
    assert result.waits == pytest.approx(queue[: len(result.waits)], abs=1e-6)

    rng = np.random.default_rng(reviewers)
    n = 400_000
    waits = _first_come_first_served(
        np.cumsum(rng.exponential(1 / rate, n)).tolist(), rng.exponential(SERVICE, n).tolist(), reviewers
    )[n // 10 :]
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


def test_a_scenario_policy_replaces_the_flows(tmp_path: Path) -> None:
    """Every case scores 0.5, inside the flow's review band; the scenario's band leaves it out."""
    project = reviewed_project(tmp_path)
    rules = [{"name": "sure-bad", "kind": "band", "label": "bad", "low": 0.9, "high": 1.0, "review": "inside"}]
    result, html = simulated(tmp_path, project, scenario(1, 20, 2, policy=rules))
    assert result.cases > 10 and result.sent_to_review == 0
    assert "sent to review</td><td>0 (0.0%)" in html


def test_a_scenario_policy_that_is_not_one_is_refused_naming_the_rule(tmp_path: Path) -> None:
    project = reviewed_project(tmp_path)
    rules = [{"name": "odd", "kind": "band", "label": "bad", "low": 0.9, "high": 0.1, "review": "inside"}]
    with pytest.raises(ConfigError, match=r"scenario policy for flow test-flow[\s\S]*- policy\[0\]\.band: .low."):
        simulated(tmp_path, project, scenario(1, 20, 2, policy=rules))


def test_batched_cases_keep_their_own_arrival_and_the_report_goes_week_by_week(tmp_path: Path) -> None:
    """Cases taken in by the hour keep their own arrival times; over ten days the report has two weekly rows,
    each with its flag rate, decisions within the SLA and the model's AUC on the outcomes that came back (1.000:
    the model's P(bad) is the case's score, and here every bad case scores above every good one)."""
    project = reviewed_project(tmp_path)
    rows = "score,group,label\n0.1,a,good\n0.6,b,good\n0.7,a,bad\n0.9,b,bad\n"
    (tmp_path / "cases.csv").write_text(rows, encoding="utf-8")
    document = scenario(2, 1.5, 240, outcomes={"delay": "1d"}, sla="2h")
    document["arrivals"] = {"per_hour": 1.5, "batch": "1h"}
    result, html = simulated(tmp_path, project, document)
    assert len(result.arrivals) == result.cases > 200
    assert sum(a % 3600 != 0 for a in result.arrivals) == result.cases  # not the batch's time
    weekly = re.search(r"<h2>Week by week</h2>\s*<table>(.*?)</table>", html, re.S)
    assert weekly is not None
    cells = [re.findall(r"<td>([^<]*)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", weekly.group(1))[1:]]
    assert [c[0] for c in cells] == ["2026-01-01", "2026-01-08"]  # weeks counted back from the end (day 10)
    assert sum(int(c[1].replace(",", "")) for c in cells) == result.cases
    assert all(c[2].endswith("%") and c[3].endswith("%") for c in cells)
    assert all(re.fullmatch(r"1\.000 \([\d,]+ outcomes\)", c[5]) for c in cells)
    assert sum(w.outcomes for w in result.auc_by_week) == result.outcomes


@pytest.mark.slow
def test_the_credit_scenario_flags_near_the_case_studys_rate_and_says_where_it_differs(tmp_path: Path) -> None:
    """Three simulated days of the shipped credit scenario on signoff init's project: its own policy flags near 7%
    (the flow's flags about 15%), and the report sets the run beside the case study, row by row (the outcomes of
    the first day are back by the third, so the AUC is there)."""
    project = write_example(tmp_path / "project").project
    shipped = load_scenario(resolve("credit"))
    document = {**shipped.model_dump(mode="json", exclude_none=True), "duration": "3d"}
    result, html = simulated(tmp_path, project, document)
    assert 0.05 < result.sent_to_review / result.cases < 0.09
    section = re.search(r"<h2>Beside the case study</h2>.*?<table>(.*?)</table>", html, re.S)
    assert section is not None
    measures = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]{40,})</td></tr>", section[1])
    assert [m[0] for m in measures] == [
        "flag rate",
        "reviewers",
        "decided within the SLA (2 h)",
        "model AUC",
        "money saved",
    ]
    assert measures[0][2] == f"{result.sent_to_review / result.cases:.1%}"
    assert re.fullmatch(r"0\.\d{3} to 0\.\d{3} by week", measures[3][2])
