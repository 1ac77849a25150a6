"""The KPIs of a scripted run, read from the store on SQLite and PostgreSQL, against values worked out by hand
(the run is described in tests/helpers/scripted.py)."""

from __future__ import annotations

import dataclasses
import math
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from helpers.builders import make_project
from helpers.scripted import scripted_project, scripted_run
from signoff import intake
from signoff.intake import validate_case
from signoff.metrics import charts, estimates
from signoff.metrics.service import as_document, flow_metrics
from signoff.store.database import Database
from signoff.store.schema import cases


def test_kpis_of_a_scripted_run_match_the_hand_computed_values(db: Database, tmp_path: Path) -> None:
    project = scripted_project(db, tmp_path)
    scripted_run(db, project)
    m = flow_metrics(db, project, "test-flow", "day")

    # flag rate: 3 of 6 cases went to review, all by the band rule
    assert (m.cases, m.flagged, m.flag_rate) == (6, 3, 0.5)
    assert m.flag_rate_by_reason == {"uncertain": 0.5}

    # turnaround over 60, 120, 180, 240, 300, 600 s: mean 250, median (180+240)/2, p95 = 300 + 0.75 * 300
    assert m.turnaround is not None
    assert (m.turnaround.n, m.turnaround.mean, m.turnaround.p50, m.turnaround.p95) == (6, 250.0, 210.0, 525.0)
    assert sum(b.count for b in m.turnaround_bins) == 6 and len(m.turnaround_bins) == 12
    assert (m.turnaround_bins[0].low, m.turnaround_bins[-1].high) == (pytest.approx(60.0), pytest.approx(600.0))
    # due after 200 s: the first three made it, the last three did not
    assert (m.sla.value, m.sla.met, m.sla.breached) == (0.5, 3, 3)

    # model accuracy from the audit census alone: 2 of 3 auto decisions right, exact (every pi is 1)
    model = m.accuracy.model
    assert model is not None and m.accuracy.audited == 3
    assert (model.value, model.low, model.high) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    # human accuracy from gold: 1 of 2; the gain is 1/2 - 2/3, not the 1/3 agreement on flagged cases
    human = m.accuracy.human
    assert human is not None and (human.value, human.n) == (0.5, 2)
    assert m.accuracy.human_sources == {"gold": 2, "adjudication": 0}
    wilson = estimates.wilson_interval(1, 2)
    assert wilson is not None and (human.low, human.high) == pytest.approx((wilson.low, wilson.high))
    assert m.accuracy.gain is not None and m.accuracy.gain.value == pytest.approx(0.5 - 2 / 3)

    # fairness by group (approval = "good", the first label)
    report = m.fairness["group"]
    a, b = report.groups["a"], report.groups["b"]
    assert (a.n, a.flag_rate, a.approval_rate, a.override_rate, a.error_rate) == pytest.approx(
        (3, 1 / 3, 2 / 3, 1.0, 0.5)
    )
    assert (b.n, b.flag_rate, b.approval_rate, b.override_rate, b.error_rate) == pytest.approx((3, 2 / 3, 0.0, 0.5, 0))
    assert report.demographic_parity_difference == pytest.approx(2 / 3)
    assert report.equalized_odds_difference is None  # group b has no audited case whose truth is "good"
    assert m.fairness_drift == {}  # nothing in the window before

    # cost: 8 reviews (3 audit, 3 review, 2 gold) at 2.0 plus 6 cases at 0.5, over 2 corrected predictions
    assert (m.cost.labour, m.cost.system, m.cost.corrected) == (16.0, 3.0, 2)
    assert m.cost.per_corrected == 9.5 and m.cost.currency == "EUR"

    # one review per case: no agreement to measure; gold accuracy 1 of 2
    assert (m.reviewers.alpha, m.reviewers.units) == (None, 0)
    assert m.reviewers.gold is not None and m.reviewers.gold.value == 0.5

    # the reference is the earliest window, which here is the window itself: no drift
    assert m.drift.reference.startswith("earliest window")
    assert m.drift.score is not None and m.drift.score.stability.psi == pytest.approx(0, abs=1e-12)
    assert m.drift.largest == pytest.approx(0, abs=1e-12)
    assert m.drift.features["score"] is not None and m.drift.features["score"].psi == pytest.approx(0, abs=1e-12)

    # the trend: the last window holds the six cases
    assert [p.cases for p in m.series][-1] == 6 and sum(p.cases for p in m.series) == 6

    document = as_document(m)
    assert document["flag_rate"] == 0.5 and document["drift"]["largest_psi"] == pytest.approx(0, abs=1e-12)
    assert math.isclose(document["accuracy"]["model"]["value"], 2 / 3)


def test_an_empty_window_reports_no_data_rather_than_numbers(db: Database, tmp_path: Path) -> None:
    project = scripted_project(db, tmp_path)
    m = flow_metrics(db, project, "test-flow", "hour")
    assert (m.cases, m.flag_rate, m.turnaround, m.accuracy.model, m.accuracy.gain, m.cost.per_corrected) == (
        0,
        None,
        None,
        None,
        None,
        None,
    )
    assert m.sla.value is None and m.fairness == {} and m.drift.largest is None


def test_drift_against_the_calibration_file_raises_a_psi_alert(db: Database, tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd

    from helpers.builders import make_project
    from signoff import intake
    from signoff.intake import validate_case
    from signoff.metrics import alerts

    rng = np.random.default_rng(7)
    reference = pd.DataFrame({"score": rng.uniform(0.0, 0.25, 300), "group": "a"})
    reference["label"] = "good"
    reference.to_csv(tmp_path / "reference.csv", index=False)
    project = make_project(
        tmp_path,
        db.url,
        calibration={"file": "reference.csv"},
        alerts={"min_cases": 10, "drift_psi": 0.25},
    )
    runtime = intake.prepare(db, project)["test-flow"]
    found = []
    current = rng.uniform(0.8, 0.95, 50)
    for i, score in enumerate(current):
        case, _ = validate_case(runtime.flow, f"c{i}", {"score": float(score), "group": "b"}, f"cases[{i}]")
        assert case is not None
        found.append(case)
    intake.submit(db, runtime, found, "tester")

    m = flow_metrics(db, project, "test-flow", "hour", points=0)
    assert m.drift.reference == "calibration file reference.csv"
    score, group = m.drift.features["score"], m.drift.features["group"]
    assert score is not None and score.level == "significant" and score.n_reference == 300 and score.n_current == 50
    # every current value sits above the reference's top decile edge: 90% of mass moves out of nine bins
    assert score.psi > 5
    assert group is not None and group.psi > 5  # "b" never appears in the reference
    # the score is the top-class probability: 1 - score on the reference (all "good"), score now (all "bad")
    drifted = m.drift.score
    assert drifted is not None
    assert drifted.mean_reference == pytest.approx(float((1 - reference["score"]).mean()))
    assert drifted.mean_current == pytest.approx(float(current.mean()))
    assert drifted.stability.psi > 0.25 and drifted.ks > 0
    raised = alerts.check(db, project)
    assert [a.check for a in raised] == ["drift_psi"]


def _auto_decided(db: Database, runtime: intake.FlowRuntime, batch: str, scores: dict[str, float]) -> None:
    """30 cases per group (the least an alert counts), each scored so that the model decides it alone."""
    found = []
    for group, score in scores.items():
        for i in range(30):
            case, _ = validate_case(runtime.flow, f"{batch}-{group}{i}", {"score": score, "group": group}, "case")
            assert case is not None
            found.append(case)
    intake.submit(db, runtime, found, "tester")


def test_the_day_before_feeds_fairness_drift_and_the_charts_ticks(db: Database, tmp_path: Path) -> None:
    project = make_project(tmp_path, db.url)
    runtime = intake.prepare(db, project)["test-flow"]
    _auto_decided(db, runtime, "before", {"a": 0.1, "b": 0.9})  # a approved, b declined
    with db.transaction() as conn:  # move that batch into the day before
        for case_id, created in conn.execute(select(cases.c.id, cases.c.created_at)).all():
            conn.execute(update(cases).where(cases.c.id == case_id).values(created_at=created - timedelta(days=1)))
    _auto_decided(db, runtime, "now", {"a": 0.9, "b": 0.1})  # the other way round today

    m = flow_metrics(db, project, "test-flow", "day", points=0)
    before, now = m.fairness_previous["group"], m.fairness["group"]
    assert (before.groups["a"].approval_rate, before.groups["b"].approval_rate) == (1.0, 0.0)
    assert (now.groups["a"].approval_rate, now.groups["b"].approval_rate) == (0.0, 1.0)
    moved = {(move.group, move.metric): (move.before, move.after) for move in m.fairness_drift["group"]}
    assert moved[("a", "approval_rate")] == (1.0, 0.0) and moved[("b", "approval_rate")] == (0.0, 1.0)

    with_ticks = charts.fairness_chart(m, "group")
    without = charts.fairness_chart(dataclasses.replace(m, fairness_previous={}), "group")
    assert with_ticks is not None and without is not None
    assert with_ticks.count("<use ") > without.count("<use ")  # the day before's rates, drawn as tick markers


def test_the_entity_field_is_no_feature_of_drift(db: Database, tmp_path: Path) -> None:
    """The flow's ``entity`` (whom a case is about: a customer id) is an identifier, so drift leaves it out; the
    other fields stay."""
    fields = {
        "score": {"type": "number", "min": 0, "max": 1},
        "group": {"type": "category", "values": ["a", "b"]},
        "customer": {"type": "string"},
    }
    project = make_project(tmp_path, db.url, fields=fields, entity="customer")
    runtime = intake.load(project, project.flow("test-flow"), db)
    found = []
    for i in range(20):
        body = {"score": 0.05 * (i % 5), "group": "ab"[i % 2], "customer": f"cust-{i}"}
        case, _ = validate_case(runtime.flow, f"c{i}", body, "case")
        assert case is not None
        found.append(case)
    intake.submit(db, runtime, found, "tester")
    m = flow_metrics(db, project, "test-flow", "day")
    assert m.cases == 20 and "customer" not in m.drift.features
    assert {"score", "group"} <= set(m.drift.features)
