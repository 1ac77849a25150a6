"""Promotion through the gate: a challenger version weighed against the champion on evidence from the store, and
the decisions that follow (promote, refuse, override, roll back), each audited with the evidence it rested on.

The evidence is gathered here and judged by the pure ``signoff.learning.gate``:

- **the held-out set**: the flow's human-verified labels (``labels.training_labels``) whose case the stable hash
  holds out of every training set (``datasets.holdout_data``), each case counted once. The gate judges this
  comparison: which of two models ranks the same verified cases better is a paired question about those cases;
  inclusion weights estimate a population's figures, and mixed with weight-1 labels they would let a handful of
  audit cases (weighing 100 each) decide the evidence.
- **the random audit sample**, reported beside it: the audit-labelled cases neither version trained or validated
  on, each weighted by the inverse of its inclusion probability, so that it stands for the cases the model decided
  alone. The gate refuses a challenger significantly worse on it, when it holds enough effective evidence.
- **the certified rules**: each model's learning rules are calibrated on that model's own scores of the labelled
  cases that calibrate the flow (the random audit sample and census reviews the champion scored, and the flow's
  calibration file), never on another model's. The challenger's certificates decide the gate's fourth condition;
  each model's own calibration routes the cases for its routing figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from signoff import audit
from signoff.config import Flow, Project
from signoff.domain import AuditEvent, LabelSource, ModelStatus
from signoff.errors import Conflict, InvalidInput, Problem, PromotionRefused
from signoff.inputs.labelled import calibration_cases
from signoff.learning import calibrate, datasets, labels, registry
from signoff.learning.compare import compare_probabilities, policy_router
from signoff.learning.datasets import Examples
from signoff.learning.gate import CertifiedRules, Evidence, GateDecision, judge
from signoff.learning.records import Comparison
from signoff.learning.registry import ModelVersion
from signoff.models import LoadedModel
from signoff.models.frames import columns_of, frame_of
from signoff.routing import Batch, Policy, PolicyState
from signoff.store import audit as audit_store
from signoff.store import cases as case_store
from signoff.store import model_versions as model_store
from signoff.store.database import Database


@dataclass(frozen=True)
class Calibration:
    """The labelled cases that calibrate the flow's learning rules: their fields and human labels."""

    rows: tuple[Mapping[str, Any], ...]
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Weighing:
    """A challenger weighed against the champion: the comparisons, the certified rules' verdict with the
    challenger's scores, and the gate's decision. ``unscored`` counts the labelled cases left out because a model
    could not score them."""

    flow: str
    champion: ModelVersion
    challenger: ModelVersion
    held_out: Comparison
    audit_sample: Comparison | None
    certified: CertifiedRules
    calibration_cases: int
    unscored: int
    decision: GateDecision

    def summary(self) -> dict[str, Any]:
        """The evidence as plain JSON: what the audit trail keeps of a decision, and what the edges show."""
        return {
            "flow": self.flow,
            "champion": self.champion.version,
            "challenger": self.challenger.version,
            "promote": self.decision.promote,
            "reasons": list(self.decision.reasons),
            "passed": list(self.decision.passed),
            "held_out": _plain(self.held_out),
            "audit_sample": None if self.audit_sample is None else _plain(self.audit_sample),
            "certified": {"able": self.certified.able, "reason": self.certified.reason},
            "calibration_cases": self.calibration_cases,
            "unscored": self.unscored,
        }


def _plain(comparison: Comparison) -> dict[str, Any]:
    found = asdict(comparison)
    found["labels"] = list(comparison.labels)
    found["groups"] = [asdict(g) for g in comparison.groups]
    return found


def weigh(db: Database, project: Project, flow: Flow, version: str) -> Weighing:
    """Gather the evidence for ``version`` against the flow's champion and judge it (nothing is written)."""
    challenger = registry.version(db, flow, version)
    champion = registry.champion(db, flow)
    if champion is None:
        raise Conflict(f"flow {flow.name!r} has no champion to weigh {version} against")
    if champion.id == challenger.id:
        raise Conflict(f"{version} is already the champion of flow {flow.name!r}")
    if challenger.kind == registry.NO_MODEL_KIND:
        raise Conflict(f"{version!r} stands for the flow having no model; it cannot be weighed")
    models = (registry.load(project, flow, champion), registry.load(project, flow, challenger))
    with db.transaction(write=False) as conn:
        now = db.now(conn)
        verified = labels.training_labels(conn, flow.name, until=now)
    calibration = flow_calibration(db, project, flow, [champion])
    held_out = datasets.holdout_data(db, flow, verified)
    if not len(held_out):
        raise Conflict(
            f"flow {flow.name!r} has no held-out human-verified label yet: the gate has no evidence to judge "
            f"{version} on"
        )
    trained = _trained_on(db, flow, (champion, challenger))
    audited = [x for x in verified if x.source == LabelSource.AUDIT and x.case_id not in trained]
    policy = Policy(flow, calibrate.profile(project, flow))
    certificates = [own_certificates(policy, model, calibration) for model in models]
    states = tuple(PolicyState(certificates=c, quantiles=q) for c, q in certificates)
    spec = flow.learning.gate
    compared, unscored = _compare(flow, policy, models, states, held_out, now, weighted=False)
    sample = None
    if audited:
        examples = datasets.examples_of(db, flow, audited)
        sample, _ = _compare(flow, policy, models, states, examples, now, weighted=True)
    certified = CertifiedRules.of(certificates[1][0])
    return Weighing(
        flow=flow.name,
        champion=champion,
        challenger=challenger,
        held_out=compared,
        audit_sample=sample,
        certified=certified,
        calibration_cases=len(calibration.labels),
        unscored=unscored,
        decision=judge(Evidence(compared, certified, sample), spec),
    )


def _trained_on(db: Database, flow: Flow, versions: Sequence[ModelVersion]) -> set[int]:
    """The cases either version trained or validated on."""
    found: set[int] = set()
    for v in versions:
        lineage = registry.version(db, flow, v.version).lineage
        found.update(() if lineage is None else (e.case_id for e in lineage.examples))
    return found


def flow_calibration(db: Database, project: Project, flow: Flow, routed_by: Sequence[ModelVersion]) -> Calibration:
    """The labelled cases that calibrate the flow: the audit sample and census reviews of the cases these versions
    routed, and the flow's calibration file's cases, when it names one."""
    with db.transaction(write=False) as conn:
        rows = [r for version in routed_by for r in case_store.verified(conn, flow.name, version.id)]
    found = Calibration(tuple(dict(r.fields) for r in rows), tuple(str(r.label) for r in rows))
    if flow.calibration.file is None:
        return found
    labelled = calibration_cases(project, flow)
    in_file = tuple(dict(case.fields) for case in labelled.cases)
    return Calibration(found.rows + in_file, found.labels + tuple(labelled.labels))


def own_certificates(policy: Policy, model: LoadedModel, found: Calibration) -> tuple[Any, Any]:
    """The policy's learning rules calibrated on ``model``'s own scores of the calibration cases."""
    frame = frame_of(policy.flow, list(found.rows))
    if not found.rows:  # nothing to calibrate on: every rule refuses, saying so
        return calibrate.certificates(policy, np.zeros((0, len(policy.flow.labels))), [], {})
    scores = model.score(frame)
    keep = scores.valid
    rows = [r for r, k in zip(found.rows, keep, strict=True) if k]
    human = [h for h, k in zip(found.labels, keep, strict=True) if k]
    segments = {name: [r.get(name) for r in rows] for name in policy.flow.fields}
    members = model.members(frame[keep]) if policy.needs_members and rows else None
    return calibrate.certificates(policy, scores.probabilities[keep], human, segments, members)


def _compare(
    flow: Flow,
    policy: Policy,
    models: tuple[LoadedModel, LoadedModel],
    states: tuple[PolicyState, ...],
    examples: Examples,
    now: datetime,
    *,
    weighted: bool,
) -> tuple[Comparison, int]:
    """Both models on the examples both could score, each routed with its own calibration, each case weighted by
    its example's weight when ``weighted``, else counted once; and how many were left."""
    first, second = (model.score(examples.frame) for model in models)
    keep = first.valid & second.valid
    if not keep.any():
        raise Conflict(f"neither model could score the {len(examples)} labelled cases of flow {flow.name!r}")
    frame = examples.frame[keep].reset_index(drop=True)
    batch = Batch(first.probabilities[keep], [None] * int(keep.sum()), columns_of(flow, frame), now)
    spec = flow.learning.gate
    compared = compare_probabilities(
        flow.labels,
        examples.labels[keep],
        first.probabilities[keep],
        second.probabilities[keep],
        weights=examples.weights[keep] if weighted else None,
        router=policy_router(policy, batch, states[0]),
        challenger_router=policy_router(policy, batch, states[1]),
        groups={name: [None if pd.isna(v) else v for v in frame[name]] for name in flow.groups},
        resamples=spec.resamples,
        confidence=1 - spec.alpha,
    )
    return compared, int((~keep).sum())


# ---- decisions -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Promotion:
    """A promotion done: the new champion, how many open review cases it re-scored, the evidence (None when there
    was none to gather) and whether it overrode the gate's refusal."""

    version: ModelVersion
    rescored: int
    weighing: Weighing | None
    overridden: bool


def _reason(reason: str) -> str:
    if not reason.strip():
        raise InvalidInput([Problem("reason", "say why (it is kept in the audit trail)")])
    return reason.strip()


def promote(
    db: Database, project: Project, flow: Flow, version: str, *, actor: str, reason: str, override: bool = False
) -> Promotion:
    """Promote ``version`` if the gate passes; else refuse, audited (``model.promotion_refused``) with every failed
    condition and nothing else changed: ``PromotionRefused``. With ``override``, a refused (or unweighable) version
    is promoted anyway, audited as an override with the gate's refusal. The promotion (``model.promoted`` with the
    evidence) commits with the status change; the open review cases are then re-scored by the new champion. The
    champion promoted again changes nothing."""
    reason = _reason(reason)
    found = registry.version(db, flow, version)
    if found.status is ModelStatus.CHAMPION:  # nothing to decide: it serves already
        return Promotion(found, 0, None, False)
    try:
        weighing: Weighing | None = weigh(db, project, flow, version)
    except Conflict as unweighable:
        weighing, refusal = None, [f"evidence: {unweighable.message}"]
    else:
        assert weighing is not None
        found, refusal = weighing.challenger, list(weighing.decision.reasons)
    summary: dict[str, Any] = {"flow": flow.name, "version": version, "reason": reason}
    summary |= {"evidence": None if weighing is None else weighing.summary(), "gate_refused": refusal}
    if refusal and not override:
        with db.transaction() as conn:
            event = AuditEvent(actor, "model.promotion_refused", "model_version", str(found.id), summary)
            audit.record(db, conn, [event])
        raise PromotionRefused(flow.name, version, refusal)
    registry.load(project, flow, found)  # a version that cannot serve is refused with nothing changed
    said = f"{reason} (gate overridden: {'; '.join(refusal)})" if refusal else f"{reason} (the gate passed)"
    event = AuditEvent(actor, "model.promoted", "model_version", str(found.id), summary | {"override": bool(refusal)})
    changed = registry.set_status(db, flow, version, ModelStatus.CHAMPION, actor=actor, reason=said, events=[event])
    rescored = registry.rescore(db, project, flow, actor=actor)
    return Promotion(changed, rescored, weighing, bool(refusal))


@dataclass(frozen=True)
class Rollback:
    """A roll-back done: the champion it replaced, the version that serves again and the cases it re-scored."""

    previous: ModelVersion
    version: ModelVersion
    rescored: int


def rollback(
    db: Database, project: Project, flow: Flow, version: str | None = None, *, actor: str, reason: str
) -> Rollback:
    """Make ``version`` (by default the champion the current one replaced) the champion again, with no gate: it
    served before. Audited (``model.rolled_back``) in the transaction of the status change."""
    reason = _reason(reason)
    current = registry.champion(db, flow)
    if current is None:
        raise Conflict(f"flow {flow.name!r} has no champion to roll back")
    target = registry.version(db, flow, version) if version is not None else _previous(db, flow, current)
    if target.id == current.id:
        raise Conflict(f"{target.version} is the champion of flow {flow.name!r} already")
    if target.kind == registry.NO_MODEL_KIND:
        raise Conflict(f"{target.version!r} stands for the flow having no model; it cannot serve")
    registry.load(project, flow, target)  # a version that cannot serve is refused with nothing changed
    data = {"flow": flow.name, "from": current.version, "to": target.version, "reason": reason}
    event = AuditEvent(actor, "model.rolled_back", "model_version", str(target.id), data)
    said = f"{reason} (rolled back from {current.version})"
    changed = registry.set_status(
        db, flow, target.version, ModelStatus.CHAMPION, actor=actor, reason=said, events=[event]
    )
    return Rollback(current, changed, registry.rescore(db, project, flow, actor=actor))


def _previous(db: Database, flow: Flow, current: ModelVersion) -> ModelVersion:
    """The champion ``current`` replaced: the version retired in the very transaction that made it champion."""
    retired = [
        v
        for v in registry.versions(db, flow)
        if v.status is ModelStatus.RETIRED and v.status_changed_at == current.status_changed_at
    ]
    if not retired:
        raise Conflict(
            f"no champion before {current.version} is recorded for flow {flow.name!r}; name the version to roll back to"
        )
    return max(retired, key=lambda v: v.id)


# ---- the record --------------------------------------------------------------------------------------------------

DECISIONS = (
    "model.promotion_refused",
    "model.promoted",
    "model.rolled_back",
    "model.shadow_started",
    "model.canary_started",
    "model.canary_rolled_back",
)


@dataclass(frozen=True)
class Decision:
    """A promotion decision as the audit trail keeps it: refused, promoted (``override`` when over the gate's
    refusal), rolled back, a shadow or a canary started, or a canary rolled back by itself (``action``), with the
    version, who, why, the failed conditions and the evidence summary."""

    at: datetime
    actor: str
    action: str
    version: str
    reason: str
    override: bool
    refused: tuple[str, ...]
    evidence: Mapping[str, Any] | None
    rolled_back_from: str | None


def decisions(db: Database, flow: Flow, limit: int = 50) -> list[Decision]:
    """The flow's latest promotion decisions, newest first."""
    with db.transaction(write=False) as conn:
        ids = [str(v.id) for v in model_store.rows(conn, flow.name)]
        rows = audit_store.entity_events(conn, "model_version", ids, DECISIONS, limit) if ids else []
    found = []
    for row in rows:
        data = dict(row.data)
        rolled = row.action == "model.rolled_back"
        found.append(
            Decision(
                at=row.at,
                actor=row.actor,
                action=row.action,
                version=str(data.get("to") if rolled else data.get("version")),
                reason=str(data.get("reason", "")),
                override=bool(data.get("override", False)),
                refused=tuple(data.get("gate_refused") or ()),
                evidence=data.get("evidence"),
                rolled_back_from=data.get("from") if rolled else None,
            )
        )
    return found
