"""Promotion through the gate on both databases, with real models registered in the store and human-verified
outcomes of known quality (helpers.promotion): a worse challenger is refused, a better one promoted, a group
regression blocks, a challenger whose scores break the certified rule's calibration is refused, each refusal names
its reason; overrides and roll-backs are audited."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from helpers.builders import flow_document, make_project
from helpers.promotion import GATE, certified_project, gated_project, register, world
from helpers.queues import reviewer
from signoff import intake, review
from signoff.domain import ModelStatus
from signoff.errors import Conflict, InvalidInput, PromotionRefused
from signoff.intake import validate_case
from signoff.learning import datasets, labels, outcomes, promotion, registry
from signoff.learning.compare import effective_size
from signoff.learning.retrain import Worker, retrain
from signoff.store.database import Database
from signoff.store.schema import audit_events, cases


def events(db: Database, action: str) -> list[Any]:
    with db.transaction(write=False) as conn:
        query = select(audit_events).where(audit_events.c.action == action).order_by(audit_events.c.id)
        return list(conn.execute(query))


def statuses(db: Database, project: Any) -> dict[str, str]:
    return {v.version: v.status.value for v in registry.versions(db, project.flow("test-flow"))}


def test_a_better_challenger_is_promoted_with_its_evidence_audited(db: Database, tmp_path: Path) -> None:
    project = gated_project(db, tmp_path)
    flow = project.flow("test-flow")
    version = register(db, project, "better")
    weighed = promotion.weigh(db, project, flow, version)
    assert weighed.decision.promote and weighed.decision.reasons == ()
    held = weighed.held_out
    assert held.n > 200 and not held.weighted and weighed.audit_sample is None
    assert held.challenger.auc is not None and held.champion.auc is not None
    assert held.challenger.auc > held.champion.auc + 0.05
    assert held.challenger.accuracy > held.champion.accuracy
    # the routing figures, each model routed by the flow's policy (a band on P(bad)): the better model is surer
    assert held.challenger.flag_rate is not None and held.champion.flag_rate is not None
    assert held.challenger.flag_rate < held.champion.flag_rate
    assert {(g.attribute, g.group) for g in held.groups} == {("group", "a"), ("group", "b")}

    done = promotion.promote(db, project, flow, version, actor="owner", reason="better on the held-out set")
    assert not done.overridden and done.version.status is ModelStatus.CHAMPION
    assert statuses(db, project) == {version: "champion", "test-1": "retired"}
    refused = events(db, "model.promotion_refused")
    assert refused == [], refused[0].data["gate_refused"] if refused else None
    [promoted] = events(db, "model.promoted")
    assert promoted.entity_id == str(done.version.id) and promoted.actor == "owner"
    assert promoted.data["override"] is False and promoted.data["gate_refused"] == []
    assert promoted.data["evidence"]["promote"] is True
    assert promoted.data["evidence"]["held_out"]["n"] == held.n
    changed = events(db, "model.status_changed")
    assert [e.data["to"] for e in changed] == ["retired", "champion"]
    assert changed[-1].data["reason"] == "better on the held-out set (the gate passed)"
    assert events(db, "model.promotion_refused") == []


def test_a_worse_challenger_is_refused_naming_why_and_nothing_changes(db: Database, tmp_path: Path) -> None:
    project = gated_project(db, tmp_path)
    flow = project.flow("test-flow")
    version = register(db, project, "worse")
    with pytest.raises(PromotionRefused) as refused:
        promotion.promote(db, project, flow, version, actor="owner", reason="try it")
    gain = [r for r in refused.value.reasons if r.startswith("gain: ")]
    assert len(gain) == 1 and "its lower bound is not above the required 0.0000" in gain[0]
    assert "gain: AUC 0.8554 -> 0.6371" in gain[0]
    assert statuses(db, project) == {version: "candidate", "test-1": "champion"}
    [event] = events(db, "model.promotion_refused")
    assert event.entity_id == str(registry.version(db, flow, version).id)
    assert event.data["gate_refused"] == list(refused.value.reasons)
    assert event.data["evidence"]["promote"] is False and event.data["reason"] == "try it"
    assert events(db, "model.promoted") == [] and events(db, "model.status_changed") == []


def test_a_group_regression_blocks_a_challenger_better_on_average(db: Database, tmp_path: Path) -> None:
    project = gated_project(db, tmp_path)
    flow = project.flow("test-flow")
    version = register(db, project, "group_regression")
    weighed = promotion.weigh(db, project, flow, version)
    assert weighed.held_out.auc_difference is not None and weighed.held_out.auc_difference.low > 0
    with pytest.raises(PromotionRefused) as refused:
        promotion.promote(db, project, flow, version, actor="owner", reason="better on average")
    [reason] = refused.value.reasons
    assert reason.startswith("group group=b: AUC 0.9918 -> ")
    assert reason.endswith("more than the 0.0200 allowed")
    assert statuses(db, project)["test-1"] == "champion"


def test_a_challenger_whose_scores_break_the_certified_rule_is_refused(db: Database, tmp_path: Path) -> None:
    project = certified_project(db, tmp_path)
    flow = project.flow("test-flow")
    version = register(db, project, "better")  # the model promoted without a certified rule above
    weighed = promotion.weigh(db, project, flow, version)
    assert weighed.calibration_cases == 300
    assert weighed.held_out.auc_difference is not None and weighed.held_out.auc_difference.low > 0
    [reason] = weighed.decision.reasons
    assert reason.startswith("certified rules: rule 'certified' cannot certify error among auto-decided cases")
    with pytest.raises(PromotionRefused, match="certified rules: rule 'certified' cannot certify"):
        promotion.promote(db, project, flow, version, actor="owner", reason="try it")
    assert statuses(db, project)[version] == "candidate"


def test_an_override_promotes_a_refused_challenger_and_records_the_refusal(db: Database, tmp_path: Path) -> None:
    project = gated_project(db, tmp_path)
    flow = project.flow("test-flow")
    version = register(db, project, "worse")
    with pytest.raises(InvalidInput, match="reason"):
        promotion.promote(db, project, flow, version, actor="owner", reason=" ", override=True)
    done = promotion.promote(db, project, flow, version, actor="owner", reason="incident 42", override=True)
    assert done.overridden and done.weighing is not None and not done.weighing.decision.promote
    assert statuses(db, project)[version] == "champion"
    [event] = events(db, "model.promoted")
    assert event.data["override"] is True
    assert event.data["gate_refused"] == list(done.weighing.decision.reasons) != []
    assert events(db, "model.status_changed")[-1].data["reason"].startswith("incident 42 (gate overridden: gain: ")


def test_a_rollback_serves_the_previous_champion_again_audited(db: Database, tmp_path: Path) -> None:
    project = gated_project(db, tmp_path)
    flow = project.flow("test-flow")
    with pytest.raises(Conflict, match="no champion before test-1"):
        promotion.rollback(db, project, flow, actor="owner", reason="nothing to go back to")
    better = register(db, project, "better")
    promotion.promote(db, project, flow, better, actor="owner", reason="better")
    done = promotion.rollback(db, project, flow, actor="owner", reason="complaints from the desk")
    assert (done.previous.version, done.version.version) == (better, "test-1")
    assert statuses(db, project) == {better: "retired", "test-1": "champion"}
    [event] = events(db, "model.rolled_back")
    assert event.data == {"flow": "test-flow", "from": better, "to": "test-1", "reason": "complaints from the desk"}
    again = promotion.rollback(db, project, flow, better, actor="owner", reason="the desk was wrong")
    assert again.version.version == better and statuses(db, project)[better] == "champion"
    with pytest.raises(Conflict, match="is the champion of flow 'test-flow' already"):
        promotion.rollback(db, project, flow, better, actor="owner", reason="again")


def test_a_flow_without_held_out_labels_has_no_evidence_and_refuses(db: Database, tmp_path: Path) -> None:
    project = gated_project(db, tmp_path, n=0)
    flow = project.flow("test-flow")
    version = register(db, project, "better")
    with pytest.raises(Conflict, match="no held-out human-verified label yet"):
        promotion.weigh(db, project, flow, version)
    with pytest.raises(PromotionRefused, match="evidence: flow 'test-flow' has no held-out"):
        promotion.promote(db, project, flow, version, actor="owner", reason="first model")
    [event] = events(db, "model.promotion_refused")
    assert event.data["evidence"] is None


def test_a_retrain_with_auto_promote_promotes_its_candidate_when_the_gate_passes(db: Database, tmp_path: Path) -> None:
    learning = {"holdout": 0.45, "trainer": "helpers.promotion:boosted", "gate": {**GATE, "auto_promote": True}}
    project = gated_project(db, tmp_path, learning=learning)
    flow = project.flow("test-flow")
    result = retrain(db, project, flow, Worker("worker"))
    assert result.status == "done" and result.version is not None, result.error
    assert events(db, "model.promotion_refused") == []
    [promoted] = events(db, "model.promoted")
    assert promoted.actor == "worker" and promoted.data["override"] is False
    assert promoted.data["reason"] == "retrained (learning.gate.auto_promote)"
    assert statuses(db, project) == {result.version.version: "champion", "test-1": "retired"}


def test_a_retrain_with_auto_promote_leaves_a_refused_candidate_a_candidate(db: Database, tmp_path: Path) -> None:
    project = gated_project(db, tmp_path, learning={"holdout": 0.45, "gate": {**GATE, "auto_promote": True}})
    flow = project.flow("test-flow")
    result = retrain(db, project, flow, Worker("worker"))  # the default trainer, on 275 labels: worse in group b
    assert result.status == "done" and result.version is not None, result.error
    [refused] = events(db, "model.promotion_refused")
    assert refused.actor == "worker"
    assert any(r.startswith("group group=b: AUC 0.9918 -> ") for r in refused.data["gate_refused"])
    assert statuses(db, project) == {result.version.version: "candidate", "test-1": "champion"}


def test_the_audit_sample_is_reported_apart_weighted_and_calibrates_each_model(db: Database, tmp_path: Path) -> None:
    project = make_project(
        tmp_path, db.url, {"test-flow": flow_document(learning={"holdout": 0.45, "gate": GATE}, audit={"rate": 0.5})}
    )
    runtime = intake.prepare(db, project)["test-flow"]
    rows, truth = world(300, seed=1)
    answers = {row["score"]: label for row, label in zip(rows, truth, strict=True)}
    found = [validate_case(runtime.flow, f"p{i}", row, f"cases[{i}]")[0] for i, row in enumerate(rows)]
    intake.submit(db, runtime, [c for c in found if c is not None], "tester")
    alice, audited = reviewer(db, "alice"), 0
    while (got := review.claim(db, project, alice, rng=random.Random(1))) is not None:
        with db.transaction(write=False) as conn:
            fields = conn.execute(select(cases.c.fields).where(cases.c.id == got.case_id)).scalar_one()
        audited += got.kind == "audit"
        review.submit(db, project, alice, got.task_id, got.token, answers[fields["score"]])
    version = register(db, project, "better")
    weighed = promotion.weigh(db, project, project.flow("test-flow"), version)
    sample = weighed.audit_sample
    assert sample is not None and sample.n == audited > 30
    assert sample.weighted  # each audited case stands for two: inclusion probability 0.5
    assert sample.challenger.accuracy > sample.champion.accuracy
    assert weighed.calibration_cases == audited  # the audit reviews of cases the champion scored
    assert weighed.held_out.n < len(rows)


def test_a_few_heavy_audit_labels_among_outcomes_do_not_erase_the_held_out_evidence(
    db: Database, tmp_path: Path
) -> None:
    """The held-out set as the loop builds it: outcomes (weight 1) for most cases, and a few recent audit labels
    whose outcome has not arrived, each weighing 1 / 0.05 = 20. Weighted, the set's effective size is a fraction of
    its cases and below the gate's 100; the gate counts each verified case once, so the set is evidence: the better
    challenger is promoted and the worse one still refused on its gain."""
    project = make_project(
        tmp_path, db.url, {"test-flow": flow_document(learning={"holdout": 0.45, "gate": GATE}, audit={"rate": 0.05})}
    )
    flow = project.flow("test-flow")
    runtime = intake.prepare(db, project, draws=np.random.default_rng(5))["test-flow"]
    rows, truth = world(600, seed=1)
    answers = {row["score"]: label for row, label in zip(rows, truth, strict=True)}
    found = [validate_case(runtime.flow, f"p{i}", row, f"cases[{i}]")[0] for i, row in enumerate(rows)]
    intake.submit(db, runtime, [c for c in found if c is not None], "tester")
    alice, audited = reviewer(db, "alice"), set()
    while (got := review.claim(db, project, alice, rng=random.Random(1))) is not None:
        with db.transaction(write=False) as conn:
            fields = conn.execute(select(cases.c.fields).where(cases.c.id == got.case_id)).scalar_one()
        if got.kind == "audit":
            audited.add(fields["score"])
        review.submit(db, project, alice, got.task_id, got.token, answers[fields["score"]])
    late = [  # every case's outcome but the audited ones'
        outcomes.OutcomeIn.of(f"outcomes[{i}]", {"external_id": f"p{i}", "label": label, "source": "repayment"})
        for i, (row, label) in enumerate(zip(rows, truth, strict=True))
        if row["score"] not in audited
    ]
    outcomes.record(db, flow, late, "tester")
    with db.transaction(write=False) as conn:
        verified = labels.training_labels(conn, flow.name, until=db.now(conn))
    weights = datasets.holdout_data(db, flow, verified).weights
    assert (weights == 20).sum() >= 3 and (weights == 1).sum() > 200  # a few heavy labels among many light ones
    assert effective_size(weights, len(weights)) < GATE["min_evidence"] < len(weights)

    better = promotion.weigh(db, project, flow, register(db, project, "better"))
    held = better.held_out
    assert not held.weighted and held.n == len(weights) and held.effective_n == held.n
    assert better.decision.promote, better.decision.reasons
    assert f"evidence: {held.n} labelled cases, at least the 100 required" in better.decision.passed
    assert better.audit_sample is not None and better.audit_sample.weighted  # reported beside, weighted

    worse = promotion.weigh(db, project, flow, register(db, project, "worse"))
    assert not worse.decision.promote
    assert [r.split(":")[0] for r in worse.decision.reasons if not r.startswith("group")] == ["gain"]
