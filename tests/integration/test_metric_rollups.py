"""The rollups against a full scan: random cases over two days, recorded in several rounds (some into hours already
folded, some after the window's end in its last hour), and every figure read from the cells compared with the same
formula over every case row, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import case, func, insert, select

from helpers.builders import make_project
from signoff import intake
from signoff.domain import Role
from signoff.metrics import drift, fairness, kpis
from signoff.metrics.service import HUMAN, first_per_case, flow_metrics
from signoff.store import metrics as metric_store
from signoff.store import rollups
from signoff.store.database import Database
from signoff.store.schema import (
    case_cells,
    cases,
    decisions,
    model_versions,
    policy_versions,
    predictions,
    reviews,
    routes,
    tasks,
    users,
)
from signoff.users import create_user

RULES = [("auto", None), ("review", "uncertain"), ("review", "large"), ("audit", "audit")]


def _record(db: Database, rng: np.random.Generator, n: int, earliest: datetime, hours: float) -> None:
    """``n`` random cases created in ``[earliest, earliest + hours)``, with a prediction and a route each; about
    one in twenty fields missing, and a few gold cases, which the metrics leave out. The model decides auto and
    audit cases at intake; a reviewer decides most review cases later (some against the model), escalation's
    default a few; half the audit cases get an audit review, some after the window's end."""
    with db.transaction() as conn:
        model = conn.execute(select(model_versions.c.id)).scalar_one()
        policy = conn.execute(select(policy_versions.c.version)).scalar_one()
        reviewer = conn.execute(select(users.c.id)).scalar_one()
        first = int(conn.execute(select(func.coalesce(func.max(cases.c.id), 0))).scalar_one()) + 1
        rows, scored, routed, decided, audit_tasks, audit_reviews, review_tasks = [], [], [], [], [], [], []
        now = db.now(conn)
        for i in range(n):
            case_id = first + i
            at = earliest + timedelta(seconds=float(rng.uniform(0, hours * 3600)))
            score = None if rng.random() < 0.05 else round(float(rng.beta(2, 5)), 4)
            fields = {"score": score, "group": str(rng.choice(["a", "b"])), "amount": float(rng.integers(0, 500))}
            status = "gold" if rng.random() < 0.02 else "pending"
            digest = hashlib.sha256(str(case_id).encode()).hexdigest()
            rows.append({"id": case_id, "flow": "test-flow", "fields": fields, "payload_hash": digest,
                         "groups": {"group": fields["group"]}, "status": status, "created_at": at})  # fmt: skip
            confidence = None if rng.random() < 0.03 else float(rng.uniform(0.5, 1.0))
            scored.append({"id": case_id, "case_id": case_id, "model_version_id": model, "label": "good",
                           "confidence": confidence, "created_at": at})  # fmt: skip
            model_label = str(rng.choice(["good", "bad"]))
            scored[-1]["label"] = model_label
            verdict, rule = RULES[int(rng.integers(0, len(RULES)))]
            routed.append({"case_id": case_id, "prediction_id": case_id, "policy_version": policy, "verdict": verdict,
                           "rule": rule, "reason": "random", "priority": 0, "created_at": at,
                           "inclusion_probability": 0.25 if verdict == "audit" else None})  # fmt: skip
            later = at + timedelta(minutes=float(rng.uniform(1, 300)))
            if verdict in ("auto", "audit"):
                decided.append({"case_id": case_id, "label": model_label, "decided_by": "model", "created_at": at})
            elif rng.random() < 0.7:
                by = "default-action" if rng.random() < 0.1 else "reviewer"
                label = str(rng.choice(["good", "bad"]))
                decided.append({"case_id": case_id, "label": label, "decided_by": by, "created_at": later})
                review_tasks.append({"id": case_id, "case_id": case_id, "flow": "test-flow", "queue": "default",
                                     "role": "reviewer", "priority": 0, "status": "done", "lease_token": 1,
                                     "lease_ttl": 60, "created_at": at, "completed_at": later, "kind": "review",
                                     "due_at": at + timedelta(hours=2) if rng.random() < 0.8 else None})  # fmt: skip
            else:  # still open: due (some of them after the read), or without a due time
                due = [None, at + timedelta(hours=1), now + timedelta(hours=1)][int(rng.integers(0, 3))]
                review_tasks.append({"id": case_id, "case_id": case_id, "flow": "test-flow", "queue": "default",
                                     "role": "reviewer", "priority": 0, "status": "queued", "lease_token": 1,
                                     "lease_ttl": 60, "created_at": at, "completed_at": None, "kind": "review",
                                     "due_at": due})  # fmt: skip
            if verdict == "audit" and rng.random() < 0.5:
                audit_tasks.append({"id": case_id, "case_id": case_id, "flow": "test-flow", "queue": "default",
                                    "role": "reviewer", "priority": 0, "status": "done", "lease_token": 1,
                                    "lease_ttl": 60, "created_at": at, "completed_at": later,
                                    "kind": "audit", "due_at": at + timedelta(hours=1)})  # fmt: skip
                audit_reviews.append({"task_id": case_id, "case_id": case_id, "reviewer_id": reviewer,
                                      "lease_token": 1, "label": str(rng.choice(["good", "bad"])), "comment": "",
                                      "created_at": later})  # fmt: skip
        conn.execute(insert(cases), rows)
        conn.execute(insert(predictions), scored)
        conn.execute(insert(routes), routed)
        conn.execute(insert(decisions), decided)
        if review_tasks:
            conn.execute(insert(tasks), review_tasks)
        if audit_tasks:
            conn.execute(insert(tasks), audit_tasks)
            conn.execute(insert(reviews), audit_reviews)


def _full_scan(db: Database, start: datetime, end: datetime, span: timedelta) -> dict[str, Any]:
    """The figures as the metrics computed them before rollups: from every case row of the window."""
    with db.transaction(write=False) as conn:
        first = conn.execute(
            select(func.min(cases.c.created_at)).where(cases.c.flow == "test-flow", cases.c.status != "gold")
        ).scalar_one()
        reference = rollups.facts_between(conn, "test-flow", first, first + span)
        current = rollups.facts_between(conn, "test-flow", start, end)
        decided = [c for c in metric_store.decided_cases(conn, [f.id for f in current]) if c.decision is not None]
        found_reviews = metric_store.review_rows(conn, "test-flow", start, end)
        work = conn.execute(
            select(tasks.c.created_at, tasks.c.completed_at, tasks.c.due_at).where(
                tasks.c.flow == "test-flow", tasks.c.kind != "gold", tasks.c.created_at >= start,
                tasks.c.created_at < end,
            )
        ).all()  # fmt: skip
        now = db.now(conn)
    audits = first_per_case([r for r in found_reviews if r.kind == "audit" and r.inclusion_probability is not None])
    truth = [(audits[c.id].label == "good") if c.id in audits else None for c in decided]
    overridden = [(c.decision != c.model_label) if c.decided_by in HUMAN else None for c in decided]
    report = {
        "group": fairness.fairness_report(
            [c.groups.get("group") for c in decided],
            [c.verdict == "review" for c in decided],
            [c.decision == "good" for c in decided],
            overridden,
            truth,
        )
    } if decided else {}  # fmt: skip

    def columns(facts: list[rollups.CaseFact]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name in ("score", "amount", "group"):
            values = [f.fields.get(name) for f in facts]
            if all(v is None or isinstance(v, int | float) for v in values):
                found[name] = np.array([np.nan if v is None else float(v) for v in values])
            else:
                found[name] = np.array(values, dtype=object)
        return found

    flagged = [f for f in current if f.verdict == "review"]
    scores = [f.confidence for f in current if f.confidence is not None]
    reference_scores = [f.confidence for f in reference if f.confidence is not None]
    return {
        "cases": len(current),
        "flagged": len(flagged),
        "reasons": kpis.flag_rate_by_reason([f.rule or f.verdict for f in flagged], len(current)),
        "features": drift.feature_drift(columns(reference), columns(current)) if current else {},
        "score": drift.score_drift(reference_scores, scores) if current and scores else None,
        "fairness": report,
        "corrected": sum(o is True for o in overridden),
        "turnaround": kpis.turnaround([t.created_at for t in work], [t.completed_at for t in work]),
        "turnaround_bins": kpis.turnaround_bins([t.created_at for t in work], [t.completed_at for t in work]),
        "sla": kpis.sla_compliance([t.due_at for t in work], [t.completed_at for t in work], now),
    }


def _compare(db: Database, project: Any, window: str, end: datetime) -> None:
    span = {"hour": timedelta(hours=1), "day": timedelta(days=1)}[window]
    m = flow_metrics(db, project, "test-flow", window, end=end, points=3)
    scan = _full_scan(db, end - span, end, span)
    assert (m.cases, m.flagged) == (scan["cases"], scan["flagged"])
    assert m.flag_rate_by_reason == pytest.approx(scan["reasons"])
    assert m.drift.features.keys() == scan["features"].keys()
    for name, expected in scan["features"].items():
        found = m.drift.features[name]
        assert (found is None) == (expected is None), name
        if found is not None and expected is not None:
            assert (found.psi, found.bins, found.n_reference, found.n_current) == pytest.approx(
                (expected.psi, expected.bins, expected.n_reference, expected.n_current), rel=1e-9, abs=1e-12
            ), name
    score, expected_score = m.drift.score, scan["score"]
    assert (score is None) == (expected_score is None)
    if score is not None and expected_score is not None:
        assert score.stability.psi == pytest.approx(expected_score.stability.psi, rel=1e-9, abs=1e-12)
        assert (score.mean_reference, score.mean_current) == pytest.approx(
            (expected_score.mean_reference, expected_score.mean_current), rel=1e-9
        )
        # the KS distance over 1/1000-wide score bins: never above the exact one, and below it by at most the
        # largest share of one bin in either sample (here, with thousands of scores spread over [0.5, 1], < 0.01)
        assert expected_score.ks - 0.01 <= score.ks <= expected_score.ks + 1e-12
    # fairness over the decided cases (the model's from the cells, the others and the audited ones one by one)
    assert m.fairness.keys() == scan["fairness"].keys()
    for attribute, expected_report in scan["fairness"].items():
        found_report = m.fairness[attribute]
        assert found_report.groups == expected_report.groups
        assert found_report.demographic_parity_difference == pytest.approx(
            expected_report.demographic_parity_difference
        )
        assert found_report.equalized_odds_difference == pytest.approx(expected_report.equalized_odds_difference)
    assert m.cost.corrected == scan["corrected"]
    # turnaround and SLA, counted by the database
    assert m.sla == scan["sla"]
    assert (m.turnaround is None) == (scan["turnaround"] is None)
    if m.turnaround is not None:
        assert (m.turnaround.n, m.turnaround.open) == (scan["turnaround"].n, scan["turnaround"].open)
        assert (m.turnaround.mean, m.turnaround.p50, m.turnaround.p95) == pytest.approx(
            (scan["turnaround"].mean, scan["turnaround"].p50, scan["turnaround"].p95), rel=1e-9
        )
    assert [b.count for b in m.turnaround_bins] == [b.count for b in scan["turnaround_bins"]]
    assert [e for b in m.turnaround_bins for e in (b.low, b.high)] == pytest.approx(
        [e for b in scan["turnaround_bins"] for e in (b.low, b.high)], rel=1e-9
    )
    # the trend's windows, each read the same way
    for i, point in enumerate(m.series):
        part = _full_scan(db, m.end - span * (3 - i), m.end - span * (2 - i), span)
        assert (point.cases, point.flag_rate) == (part["cases"], kpis.flag_rate(part["flagged"], part["cases"]))
        # a case costs 0.5 and a review nothing here: the cost per corrected case is the cases' over the corrected
        expected_cost = kpis.cost_per_corrected(0.0, part["cases"] * 0.5, part["corrected"])
        assert point.cost_per_corrected == pytest.approx(expected_cost)
        assert point.sla_compliance == part["sla"].value
        expected_turnaround = part["turnaround"]
        if expected_turnaround is None:
            assert (point.turnaround_p50, point.turnaround_p95) == (None, None)
        else:
            assert (point.turnaround_p50, point.turnaround_p95) == pytest.approx(
                (expected_turnaround.p50, expected_turnaround.p95), rel=1e-9
            )


def _ready(db: Database, tmp_path: Path, seed: int) -> tuple[Any, np.random.Generator, datetime]:
    """The test flow (a case costs 0.5) with its model and policy recorded and an auditor; a seeded generator; now."""
    project = make_project(tmp_path, db.url, costs={"per_case": 0.5})
    intake.prepare(db, project)
    create_user(db, "auditor-1", Role.REVIEWER, "test")
    with db.transaction(write=False) as conn:
        return project, np.random.default_rng(seed), db.now(conn)


def test_rollups_give_the_full_scans_figures_on_random_data(db: Database, tmp_path: Path) -> None:
    project, rng, now = _ready(db, tmp_path, 17)
    origin = (now - timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    _record(db, rng, 1500, origin, 50)

    end = origin + timedelta(hours=40, minutes=23, seconds=7)  # mid-hour: cases after it in its hour are left out
    _compare(db, project, "day", end)
    _compare(db, project, "hour", end)
    with db.transaction(write=False) as conn:
        assert conn.execute(select(func.count()).select_from(case_cells)).scalar_one() > 0  # the read folded

    # more cases into hours already folded, after the earliest day (which closed long ago and is kept as the drift
    # reference; it starts with the first case, within the first hour): the next read folds them in
    _record(db, rng, 700, origin + timedelta(hours=25), 25)
    _compare(db, project, "day", end)
    _compare(db, project, "day", origin + timedelta(hours=49, minutes=59))
    _compare(db, project, "hour", origin + timedelta(hours=30))  # on the hour
    _compare_versions(db)


def _compare_versions(db: Database) -> None:
    """The versions' cells, folded by the database in chunks, against a full scan of every case with its route."""
    flagged = func.sum(case((routes.c.verdict == "review", 1), else_=0))
    with db.transaction(write=False) as conn:
        scanned = conn.execute(
            select(predictions.c.model_version_id, routes.c.policy_version, func.count(), flagged,
                   func.max(routes.c.created_at))
            .select_from(cases.join(routes, routes.c.case_id == cases.c.id).join(
                predictions, predictions.c.id == routes.c.prediction_id))
            .where(cases.c.flow == "test-flow", cases.c.status != "gold")
            .group_by(predictions.c.model_version_id, routes.c.policy_version)
        ).all()  # fmt: skip
    mark = rollups.fold_versions(db, "test-flow", rollups.final_case_id(db), chunk=97)
    with db.transaction(write=False) as conn:
        used = rollups.version_use(conn, "test-flow", mark)
    assert used.models == {int(m): (int(n), int(f)) for m, _, n, f, _ in scanned}
    assert used.policies == {str(p): (int(n), last) for _, p, n, _, last in scanned}


def test_a_fold_adds_each_case_once_whatever_the_chunk(db: Database, tmp_path: Path) -> None:
    _, rng, now = _ready(db, tmp_path, 3)
    _record(db, rng, 300, now - timedelta(hours=5), 4)
    target = rollups.final_case_id(db)

    def count(facts: list[rollups.CaseFact]) -> rollups.Cells:
        found = Counter((f.created_at.replace(minute=0, second=0, microsecond=0), "n", "") for f in facts)
        return {key: (n, 0.0) for key, n in found.items()}

    assert rollups.fold(db, "test-flow", {"test": count}, target, chunk=7) == {"test": target}
    assert rollups.fold(db, "test-flow", {"test": count}, target, chunk=7) == {"test": target}  # nothing added
    # a scope begun later is folded from its own mark in the same pass as one further on, which adds nothing twice
    _record(db, rng, 100, now - timedelta(hours=5), 4)
    later = rollups.final_case_id(db)
    read: list[int] = []

    def counted(facts: list[rollups.CaseFact]) -> rollups.Cells:
        read.extend(f.id for f in facts)
        return count(facts)

    reached = rollups.fold(db, "test-flow", {"test": count, "late": counted}, later, chunk=50)
    assert reached == {"test": later, "late": later}
    assert len(read) == len(set(read))
    with db.transaction(write=False) as conn:
        recorded = conn.execute(select(func.count()).select_from(cases).where(cases.c.status != "gold")).scalar_one()
        for scope in ("test", "late"):
            cells = rollups.sums(conn, "test-flow", scope, now - timedelta(days=1), now, ["n"])
            assert sum(c.count for c in cells) == recorded
    assert len(read) == recorded and 330 < recorded < 400  # gold cases are not folded


def test_prometheus_totals_add_the_cases_above_the_mark_to_the_cells(db: Database, tmp_path: Path) -> None:
    project, rng, now = _ready(db, tmp_path, 5)

    def scanned() -> tuple[dict[tuple[str, str], int], int]:
        with db.transaction(write=False) as conn:
            verdicts = conn.execute(
                select(cases.c.flow, routes.c.verdict, func.count())
                .select_from(cases.join(routes, routes.c.case_id == cases.c.id))
                .where(cases.c.status != "gold")
                .group_by(cases.c.flow, routes.c.verdict)
            ).all()
            by_model = conn.execute(
                select(func.count())
                .select_from(decisions.join(cases, cases.c.id == decisions.c.case_id))
                .where(decisions.c.decided_by == "model", cases.c.status != "gold")
            ).scalar_one()
        return {(f, v): int(n) for f, v, n in verdicts}, int(by_model)

    def totals() -> tuple[dict[tuple[str, str], int], int]:
        with db.transaction(write=False) as conn:
            verdicts, by_model = rollups.totals(conn, project.flows)
        return {(f, v): n for f, v, n in verdicts}, by_model.get("test-flow", 0)

    _record(db, rng, 400, now - timedelta(hours=30), 20)
    assert totals() == scanned()  # nothing folded yet: every case counted from the table
    flow_metrics(db, project, "test-flow", "day", points=0)  # folds
    _record(db, rng, 150, now - timedelta(hours=10), 9)  # above the mark
    assert totals() == scanned()
