"""The promotion gate on comparisons built in memory: each condition promotes or refuses, and every refusal names
its condition with the numbers."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers.builders import flow_document, make_flow
from helpers.paired import LABELS, scored, two_columns
from signoff.config import parse_project
from signoff.config.flows import GateSpec
from signoff.domain import CaseId
from signoff.errors import ConfigError
from signoff.learning.compare import Comparison, compare_probabilities
from signoff.learning.datasets import Examples
from signoff.learning.gate import CertifiedRules, Evidence, GateDecision, judge
from signoff.routing import Batch, Policy
from signoff.routing.calibration import Refusal, certify_selective
from signoff.routing.policy import EMPTY_STATE

EXPLANATION = Path(__file__).resolve().parents[2] / "docs" / "explanation" / "promotion-gate.md"
CERTIFIED = CertifiedRules(True, "the policy has no certified rule")
SPEC = GateSpec()


def comparison(
    n: int = 600,
    champion_noise: float = 1.2,
    challenger_noise: float = 0.8,
    *,
    blurred_in_b: bool = False,
    seed: int = 1,
    spec: GateSpec = SPEC,
    weights: np.ndarray | None = None,
) -> Comparison:
    """Two models on ``n`` cases in groups a and b (one case in four); optionally the challenger's scores are
    blurred by much more noise on group b, where it then ranks cases far worse than the champion."""
    truth, first, second = scored(n, seed, champion_noise, challenger_noise)
    group = np.where(np.arange(n) % 4 == 0, "b", "a")
    if blurred_in_b:
        blurred = np.log(second / (1 - second)) + np.random.default_rng(seed + 1).normal(0, 1.6, n)
        second = np.where(group == "b", 1 / (1 + np.exp(-blurred)), second)
    return compare_probabilities(
        LABELS,
        np.array(LABELS)[truth],
        two_columns(first),
        two_columns(second),
        weights=weights,
        groups={"region": list(group)},
        resamples=spec.resamples,
        confidence=1 - spec.alpha,
    )


def test_a_better_challenger_is_promoted_and_the_decision_says_on_what() -> None:
    decision = judge(Evidence(comparison(), CERTIFIED), SPEC)
    assert decision.promote and decision.reasons == ()
    passed = " | ".join(decision.passed)
    assert "evidence: 600 labelled cases, at least the 200 required" in passed
    assert "its lower bound is above the required 0.0000" in passed
    assert "group region=a" in passed and "group region=b" in passed
    assert "certified rules: the policy has no certified rule" in passed


def test_a_worse_challenger_is_refused_naming_the_gain_and_its_interval() -> None:
    found = comparison(champion_noise=0.8, challenger_noise=1.2)
    decision = judge(Evidence(found, CERTIFIED), SPEC)
    assert not decision.promote
    (reason,) = [r for r in decision.reasons if r.startswith("gain")]  # worse in each group too
    bootstrap = found.auc_difference
    assert bootstrap is not None and bootstrap.high < 0
    assert reason.startswith("gain: AUC ")
    assert f"a gain of {bootstrap.difference:+.4f}" in reason
    assert f"95% paired bootstrap interval {bootstrap.low:+.4f} to {bootstrap.high:+.4f}" in reason
    assert reason.endswith("its lower bound is not above the required 0.0000")


def test_an_equal_challenger_is_not_promoted_and_min_gain_raises_the_bar() -> None:
    same = comparison(champion_noise=1.0, challenger_noise=1.0)
    assert not judge(Evidence(same, CERTIFIED), SPEC).promote
    better = comparison()
    assert better.auc_difference is not None
    demanding = GateSpec(min_gain=round(better.auc_difference.low + 0.01, 4))
    (reason,) = judge(Evidence(better, CERTIFIED), demanding).reasons
    assert f"not above the required {demanding.min_gain:.4f}" in reason


def test_a_group_regression_blocks_a_challenger_better_overall() -> None:
    found = comparison(challenger_noise=0.5, blurred_in_b=True)
    assert found.auc_difference is not None and found.auc_difference.low > 0  # better overall, significantly
    b = next(g for g in found.groups if g.group == "b")
    assert b.champion.auc is not None and b.challenger.auc is not None
    decision = judge(Evidence(found, CERTIFIED), SPEC)
    assert not decision.promote
    (reason,) = decision.reasons
    drop = b.champion.auc - b.challenger.auc
    assert reason == (
        f"group region=b: AUC {b.champion.auc:.4f} -> {b.challenger.auc:.4f} on {b.champion.n} cases, "
        f"a drop of {drop:.4f}, more than the 0.0200 allowed"
    )


def test_a_small_group_is_not_judged_and_is_said_so() -> None:
    found = comparison(n=220, challenger_noise=0.5, blurred_in_b=True)
    spec = GateSpec(min_group_cases=100)  # group b has 55 cases
    decision = judge(Evidence(found, CERTIFIED), spec)
    assert not any(r.startswith("group") for r in decision.reasons)
    assert "groups not judged, fewer than 100 cases or no AUC: region=b (55)" in decision.passed


def test_certified_rules_that_can_no_longer_certify_refuse_with_their_reason() -> None:
    truth, _, second = scored(600, 1, 1.2, 0.8)
    # the challenger's confident scores are wrong far more often than the rule's 1% allows
    refusal = certify_selective(np.maximum(second, 1 - second), (second > 0.5) == (truth == 1), 0.01, 0.05)
    certified = CertifiedRules.of({"auto-approve": {None: refusal}})
    assert not certified.able
    decision = judge(Evidence(comparison(), certified), SPEC)
    assert not decision.promote
    (reason,) = decision.reasons
    assert reason.startswith("certified rules: rule 'auto-approve' cannot certify")
    assert isinstance(refusal, Refusal)
    assert reason == f"certified rules: rule 'auto-approve' {refusal.statement}"


def test_certified_rules_of_certificates_passes_when_every_rule_certifies() -> None:
    score = np.linspace(0.5, 1.0, 2000)
    certificate = certify_selective(score, np.ones(2000, dtype=bool), 0.05, 0.05)
    assert CertifiedRules.of({"auto": {None: certificate}}) == CertifiedRules(
        True, "1 certified rule(s) still certify with the challenger's scores"
    )
    assert CertifiedRules.of({}) == CertifiedRules(True, "the policy has no certified rule")


def test_too_little_evidence_refuses_with_the_count() -> None:
    decision = judge(Evidence(comparison(n=150, challenger_noise=0.2), CERTIFIED), SPEC)
    assert not decision.promote
    assert decision.reasons == ("evidence: 150 labelled cases, fewer than the 200 required",)
    enough = judge(Evidence(comparison(n=200, challenger_noise=0.2), CERTIFIED), SPEC)
    assert "evidence: 200 labelled cases, at least the 200 required" in enough.passed


def test_a_few_heavy_cases_are_counted_by_their_effective_number() -> None:
    """600 cases of which 30 are audit draws at 1% (weight 100): Kish's effective size is (570 + 3000)^2 /
    (570 + 300000) = 42.4, far below 200, so the evidence is refused though the case count passes."""
    weights = np.where(np.arange(600) < 30, 100.0, 1.0)
    found = comparison(weights=weights)
    assert found.effective_n == pytest.approx(3570**2 / 300570)
    decision = judge(Evidence(found, CERTIFIED), SPEC)
    assert not decision.promote
    assert (
        decision.reasons[0] == "evidence: 600 labelled cases (42.4 effective, as weighted), fewer than the 200 required"
    )
    assert comparison().effective_n == 600  # unweighted: every case counts once


def test_a_challenger_significantly_worse_on_the_audit_sample_is_refused_naming_it() -> None:
    """Better on the held-out set, significantly worse on 600 audited cases drawn at 1% (each weighing 100, so
    600 effective): the audit sample stands for the cases the model decides alone, and refuses."""
    sample = comparison(champion_noise=0.8, challenger_noise=1.2, weights=np.full(600, 100.0))
    bootstrap = sample.auc_difference
    assert bootstrap is not None and bootstrap.high < 0
    decision = judge(Evidence(comparison(), CERTIFIED, sample), SPEC)
    assert not decision.promote
    assert decision.reasons == (
        f"audit sample: AUC {sample.champion.auc:.4f} -> {sample.challenger.auc:.4f} on 600 audited cases (600.0 "
        f"effective, as weighted), a change of {bootstrap.difference:+.4f} (95% paired bootstrap interval "
        f"{bootstrap.low:+.4f} to {bootstrap.high:+.4f}): significantly worse",
    )
    by_accuracy = judge(Evidence(comparison(challenger_noise=0.5), CERTIFIED, sample), GateSpec(metric="accuracy"))
    (reason,) = by_accuracy.reasons
    assert reason.startswith("audit sample: accuracy ") and reason.endswith(": significantly worse")


def test_the_audit_sample_refuses_only_with_enough_effective_cases_and_a_significant_loss() -> None:
    """30 audit draws weighing 100 among 570 light cases are 42.4 effective: not judged, whatever they show. An
    audit sample no worse passes, and says so."""
    heavy = comparison(champion_noise=0.8, challenger_noise=1.2, weights=np.where(np.arange(600) < 30, 100.0, 1.0))
    decision = judge(Evidence(comparison(), CERTIFIED, heavy), SPEC)
    assert decision.promote, decision.reasons
    assert (
        "audit sample: 600 audited cases (42.4 effective, as weighted), fewer than the 200 needed to judge it: "
        "not judged" in decision.passed
    )
    better = comparison(seed=2, weights=np.full(600, 100.0))
    passed = judge(Evidence(comparison(), CERTIFIED, better), SPEC)
    assert passed.promote and passed.passed[-1].endswith(": not significantly worse")


def test_every_failed_condition_is_named_at_once() -> None:
    found = comparison(n=120, champion_noise=0.8, challenger_noise=1.2)
    decision = judge(Evidence(found, CertifiedRules(False, "cannot certify")), SPEC)
    named = [r.split(":")[0] for r in decision.reasons]
    assert [n for n in named if not n.startswith("group")] == ["evidence", "gain", "certified rules"]


def test_accuracy_as_the_metric_asks_mcnemar() -> None:
    spec = GateSpec(metric="accuracy")
    better = judge(Evidence(comparison(challenger_noise=0.5), CERTIFIED), spec)
    assert better.promote, better.reasons
    found = comparison(champion_noise=1.0, challenger_noise=1.0)
    (reason,) = [r for r in judge(Evidence(found, CERTIFIED), spec).reasons if r.startswith("gain")]
    test = found.mcnemar
    assert reason.startswith(f"gain: accuracy {found.champion.accuracy:.4f} -> {found.challenger.accuracy:.4f}")
    assert (
        f"McNemar: the challenger alone right on {test.challenger_only} cases, the champion alone on "
        f"{test.champion_only}, p = {test.p_value:.4g} (alpha 0.05)" in reason
    )


def test_the_decision_is_the_same_for_the_same_evidence_and_seed() -> None:
    assert comparison(seed=3) == comparison(seed=3)
    assert judge(Evidence(comparison(seed=3), CERTIFIED), SPEC) == judge(Evidence(comparison(seed=3), CERTIFIED), SPEC)


def test_an_interval_at_another_confidence_than_the_gates_is_refused() -> None:
    found = comparison(spec=GateSpec(alpha=0.1))
    with pytest.raises(ValueError, match=re.escape("confidence 0.9, the gate asks for 0.95")):
        judge(Evidence(found, CERTIFIED), SPEC)


def _project(learning: object) -> object:
    return parse_project({"flows": {"credit": flow_document(learning=learning)}}, Path("signoff.yaml"))


def test_the_documented_settings_are_the_defaults() -> None:
    block = re.search(r"```yaml\n(.*?)```", EXPLANATION.read_text(encoding="utf-8"), re.DOTALL)
    assert block is not None
    learning = yaml.safe_load(block.group(1))["flows"]["credit"]["learning"]
    assert _project(learning).flows["credit"].learning.gate == GateSpec()  # type: ignore[attr-defined]
    assert _project({}).flows["credit"].learning.gate == GateSpec()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("gate", "where"),
    [
        ({"metric": "f1"}, "flows.credit.learning.gate.metric"),
        ({"alpha": 0}, "flows.credit.learning.gate.alpha"),
        ({"alpha": 0.5}, "flows.credit.learning.gate.alpha"),
        ({"min_gain": -0.01}, "flows.credit.learning.gate.min_gain"),
        ({"max_group_drop": 1}, "flows.credit.learning.gate.max_group_drop"),
        ({"min_evidence": 0}, "flows.credit.learning.gate.min_evidence"),
        ({"min_group_cases": 0}, "flows.credit.learning.gate.min_group_cases"),
        ({"resamples": 10}, "flows.credit.learning.gate.resamples"),
        ({"gain": 0.1}, "flows.credit.learning.gate.gain"),
    ],
)
def test_bad_gate_settings_are_refused_naming_where(gate: dict[str, object], where: str) -> None:
    with pytest.raises(ConfigError) as error:
        _project({"gate": gate})
    assert where in str(error.value)


def test_the_documented_decision_is_the_one_the_gate_gives() -> None:
    text = EXPLANATION.read_text(encoding="utf-8").split("## What a decision looks like", 1)[1]
    block = re.search(r"```text\n(.*?)```", text, re.DOTALL)
    assert block is not None
    decision = judge(Evidence(comparison(challenger_noise=0.5, blurred_in_b=True), CERTIFIED), SPEC)
    shown = "\n".join(
        [f"promote: {str(decision.promote).lower()}", "reasons:"]
        + [f"  {r}" for r in decision.reasons]
        + ["passed:"]
        + [f"  {p}" for p in decision.passed]
    )
    assert block.group(1).strip() == shown


def test_the_documented_python_runs() -> None:
    text = EXPLANATION.read_text(encoding="utf-8").split("## What a decision looks like", 1)[1]
    block = re.search(r"```python\n(.*?)```", text, re.DOTALL)
    assert block is not None
    flow = make_flow(learning={"gate": {"min_evidence": 100}})
    truth, first, second = scored(300, 4, 1.2, 0.6)
    frame = pd.DataFrame({"score": second, "amount": 1.0, "group": np.where(np.arange(300) % 2, "a", "b")})
    examples = Examples(tuple(CaseId(i) for i in range(300)), frame, np.array(LABELS)[truth], np.ones(300))
    namespace = {
        "flow": flow,
        "policy": Policy(flow),
        "batch": Batch(two_columns(first), [None] * 300, draws=np.ones(300)),
        "champion_state": EMPTY_STATE,
        "challenger_state": EMPTY_STATE,
        "champion": Fixed(two_columns(first)),
        "challenger": Fixed(two_columns(second)),
        "examples": examples,
        "certificates": {},
    }
    exec(block.group(1), namespace)  # noqa: S102  # the docs' own example
    decision = namespace["decision"]
    assert isinstance(decision, GateDecision) and decision.promote, decision
    assert {g.group for g in namespace["comparison"].groups} == {"a", "b"}  # type: ignore[attr-defined]


class Fixed:
    """A fitted model whose probabilities are given."""

    classes_ = np.array(LABELS)

    def __init__(self, probabilities: np.ndarray) -> None:
        self.probabilities = probabilities

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.probabilities
