"""Shadow and canary: a challenger beside the champion on live traffic, and the canary's roll-back on evidence.

A version in **shadow** scores every case the champion routes, without effect: its scores are recorded beside the
champion's (``shadow_predictions``) and nothing reads them but the comparison. A **canary** routes a share of the
cases itself, through the flow's policy with its certified rules calibrated on its own scores; the champion scores
those cases beside it, so that the two are compared on the same cases. A flow has at most one of them at a time.

Which cases the canary routes is sticky: a case goes to it when a SHA-256 of the flow, the canary's version and the
case's key (its ``sticky_by`` field's value, such as the entity it is about, else its external id, else its
payload) falls in the first ``share`` of the hash's range. Every process computes the same answer, before and after
a restart, and a new canary draws a new share of entities rather than the same ones again.

**The roll-back.** The canary's labelled cases are the ones a human labelled: each flagged case's human decision
(weight 1: every flagged case is reviewed) and each automatically decided case the random audit drew (weight the
inverse of its inclusion probability). Together they stand for the whole canary share. On them both versions'
errors are paired: ``d`` is +1 where the canary alone is wrong, -1 where the champion alone is. The test is
McNemar's made for weights (a Horvitz-Thompson sum): z = sum(w d) / sqrt(sum(w² d²)), which is McNemar's
statistic (without continuity correction) when every weight is 1. Once the canary has ``learning.canary.
min_evidence`` labelled cases, a canary worse with a two-sided p below the gate's ``alpha`` ends by itself (back to
candidate), audited with the numbers. The check is repeated as evidence comes in, which raises the chance of ending
a canary that is not worse above ``alpha``: that error is the safe one (the champion serves on).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from signoff.config import Flow, Project
from signoff.config.flows import STICKY_TYPES
from signoff.domain import AuditEvent, DecidedBy, ModelStatus, hash_point
from signoff.errors import Conflict, InvalidInput, Problem
from signoff.learning import calibrate, promotion, registry
from signoff.learning.compare import compare_probabilities
from signoff.learning.gate import CertifiedRules
from signoff.learning.records import Comparison
from signoff.learning.registry import ModelVersion
from signoff.routing import Policy
from signoff.store import model_versions as store
from signoff.store.database import Database

WATCHER = "signoff"
"""Who ends a canary that the evidence shows worse."""
HUMAN = {DecidedBy.REVIEWER.value, DecidedBy.CONSENSUS.value, DecidedBy.ADJUDICATION.value}
HASH_RANGE = float(2**64)


def in_share(flow: str, version_id: int, keys: Sequence[str], share: float) -> npt.NDArray[np.bool_]:
    """Which of the cases (by key) the canary routes: stable across processes and restarts (see the module)."""
    prefix = f"{flow}\0{version_id}\0".encode()
    points = [hash_point(prefix + key.encode()) for key in keys]
    return np.asarray(points, dtype=np.float64) < share * HASH_RANGE


# ---- starting and ending ---------------------------------------------------------------------------------------


def _startable(db: Database, project: Project, flow: Flow, version: str) -> ModelVersion:
    """The version, once it may go beside the champion: recorded, not the champion, loadable, and the flow has no
    other version in shadow or canary."""
    found = registry.version(db, flow, version)
    if found.kind == registry.NO_MODEL_KIND:
        raise Conflict(f"{version!r} stands for the flow having no model; it cannot score cases")
    if found.status is ModelStatus.CHAMPION:
        raise Conflict(f"{version} is the champion of flow {flow.name!r}: it serves every case already")
    other = registry.challenger(db, flow)
    if other is not None and other.id != found.id:
        raise Conflict(
            f"{other.version} is in {other.status.value} for flow {flow.name!r}; end it first "
            f"(signoff models rollback {flow.name} {other.version} --reason ...)"
        )
    registry.load(project, flow, found)  # a version that cannot score is refused with nothing changed
    return found


def _reason(reason: str) -> str:
    if not reason.strip():
        raise InvalidInput([Problem("reason", "say why (it is kept in the audit trail)")])
    return reason.strip()


def shadow(db: Database, project: Project, flow: Flow, version: str, *, actor: str, reason: str) -> ModelVersion:
    """Put a version in shadow: it scores every case beside the champion, without effect. Audited."""
    reason = _reason(reason)
    found = _startable(db, project, flow, version)
    data = {"flow": flow.name, "version": version, "reason": reason}
    event = AuditEvent(actor, "model.shadow_started", "model_version", str(found.id), data)
    return registry.set_status(db, flow, version, ModelStatus.SHADOW, actor=actor, reason=reason, events=[event])


def canary(
    db: Database,
    project: Project,
    flow: Flow,
    version: str,
    *,
    actor: str,
    reason: str,
    share: float | None = None,
    sticky_by: str | None = None,
) -> ModelVersion:
    """Make a version the canary: it routes ``share`` of the cases (default ``learning.canary.share``), kept
    together by ``sticky_by`` (default ``learning.canary.sticky_by``; else by case). Refused, with nothing
    changed, when the policy's certified rules cannot certify with its own scores of the cases that calibrate the
    flow: it would route its share on guarantees it does not have. Audited with the share."""
    reason = _reason(reason)
    spec = flow.learning.canary
    share = spec.share if share is None else share
    sticky_by = spec.sticky_by if sticky_by is None else sticky_by or None
    problems = []
    if not 0 < share < 1:
        problems.append(Problem("share", f"must be above 0 and below 1, not {share}"))
    if sticky_by is not None and (sticky_by not in flow.fields or flow.fields[sticky_by].type not in STICKY_TYPES):
        choices = ", ".join(name for name, f in flow.fields.items() if f.type in STICKY_TYPES) or "none"
        said = f"{sticky_by!r} is not a field of type {'/'.join(STICKY_TYPES)} of flow {flow.name!r}"
        problems.append(Problem("sticky_by", f"{said} (fields that can: {choices})"))
    if problems:
        raise InvalidInput(problems, f"cannot start a canary of {version}")
    found = _startable(db, project, flow, version)
    certified = certifies(db, project, flow, found)
    if not certified.able:
        raise Conflict(f"{version} cannot be a canary of flow {flow.name!r}: certified rules: {certified.reason}")
    data = {"flow": flow.name, "version": version, "reason": reason, "share": share, "sticky_by": sticky_by}
    event = AuditEvent(
        actor, "model.canary_started", "model_version", str(found.id), data | {"certified": certified.reason}
    )
    return registry.set_status(
        db, flow, version, ModelStatus.CANARY, actor=actor, reason=reason, events=[event], canary=(share, sticky_by)
    )


def certifies(db: Database, project: Project, flow: Flow, version: ModelVersion) -> CertifiedRules:
    """Whether the policy's certified rules certify with the version's own scores (as the gate asks)."""
    policy = Policy(flow, calibrate.profile(project, flow))
    if not policy.learning_rules:
        return CertifiedRules(True, "the policy has no certified rule")
    model = registry.load(project, flow, version)
    return CertifiedRules.of(promotion.own_certificates(policy, model, calibration(db, project, flow, version))[0])


def calibration(db: Database, project: Project, flow: Flow, version: ModelVersion) -> promotion.Calibration:
    """The labelled cases a challenger calibrates on: those that calibrate the champion and its own (as canary)."""
    serving = registry.champion(db, flow)
    return promotion.flow_calibration(db, project, flow, [v for v in (serving, version) if v is not None])


def end(
    db: Database, flow: Flow, version: str, *, actor: str, reason: str, events: Sequence[AuditEvent] = ()
) -> ModelVersion:
    """End a shadow or a canary: the version is a candidate again and no case goes to it any more. Audited."""
    reason = _reason(reason)
    found = registry.version(db, flow, version)
    if found.status not in (ModelStatus.SHADOW, ModelStatus.CANARY):
        raise Conflict(f"{version} is {found.status.value}, neither in shadow nor a canary of flow {flow.name!r}")
    return registry.set_status(db, flow, version, ModelStatus.CANDIDATE, actor=actor, reason=reason, events=events)


# ---- the running evidence ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Discordance:
    """The paired errors of two versions on weighted cases: how many cases (and how much weight) only the canary
    gets wrong and only the champion, z = sum(w d) / sqrt(sum(w² d²)) (positive: the canary errs more) and its
    two-sided p-value (1 with no discordant case)."""

    challenger_only: int
    champion_only: int
    challenger_only_weight: float
    champion_only_weight: float
    z: float
    p_value: float


def discordance(
    champion_correct: npt.ArrayLike, challenger_correct: npt.ArrayLike, weights: npt.ArrayLike
) -> Discordance:
    """McNemar's test made for weights (see the module)."""
    first = np.asarray(champion_correct, dtype=np.bool_)
    second = np.asarray(challenger_correct, dtype=np.bool_)
    w = np.asarray(weights, dtype=np.float64)
    worse, better = first & ~second, ~first & second
    d = worse.astype(np.float64) - better.astype(np.float64)
    spread = math.sqrt(float(np.sum(np.square(w * d))))
    z = 0.0 if spread == 0 else float(np.sum(w * d)) / spread
    return Discordance(
        challenger_only=int(worse.sum()),
        champion_only=int(better.sum()),
        challenger_only_weight=float(w[worse].sum()),
        champion_only_weight=float(w[better].sum()),
        z=z,
        p_value=math.erfc(abs(z) / math.sqrt(2)) if spread else 1.0,
    )


@dataclass(frozen=True)
class Running:
    """A shadow or canary weighed against the champion on its labelled cases so far: the comparison (None before
    any labelled case), the paired test, and whether the canary is worse, with the numbers in words."""

    flow: str
    champion: str
    challenger: ModelVersion
    cases: int
    labelled: int
    comparison: Comparison | None
    test: Discordance | None
    min_evidence: int
    alpha: float
    worse: bool
    statement: str

    def summary(self) -> dict[str, Any]:
        """The evidence as plain JSON (the audit trail, the API and the pages)."""
        compared = self.comparison
        return {
            "flow": self.flow,
            "champion": self.champion,
            "version": self.challenger.version,
            "status": self.challenger.status.value,
            "share": self.challenger.canary_share,
            "sticky_by": self.challenger.canary_sticky_by,
            "cases": self.cases,
            "labelled": self.labelled,
            "effective": None if compared is None else compared.effective_n,
            "champion_error": None if compared is None else 1 - compared.champion.accuracy,
            "challenger_error": None if compared is None else 1 - compared.challenger.accuracy,
            "test": None if self.test is None else vars(self.test),
            "min_evidence": self.min_evidence,
            "alpha": self.alpha,
            "worse": self.worse,
            "statement": self.statement,
        }


def running(db: Database, flow: Flow) -> Running | None:
    """The flow's shadow or canary weighed on its labelled cases so far (None when it has neither). For a canary,
    the cases it routed, with the champion's scores beside; for a shadow, the cases the champion routed, with
    the shadow's beside. Only a canary can be found worse: a shadow has no effect to undo."""
    challenger = registry.challenger(db, flow)
    serving = registry.champion(db, flow)
    if challenger is None or serving is None:
        return None
    is_canary = challenger.status is ModelStatus.CANARY
    routed_by, beside = (challenger, serving) if is_canary else (serving, challenger)
    with db.transaction(write=False) as conn:
        rows = store.paired(conn, routed_by.id, beside.id)
        audit_labels = store.audited(conn, beside.id)
    truth, weights, champion_p, challenger_p = [], [], [], []
    for row in rows:
        if row.decided_by in HUMAN:
            label, weight = row.label, 1.0
        elif row.case_id in audit_labels:
            label, weight = audit_labels[row.case_id], 1 / (row.inclusion_probability or 1.0)
        else:
            continue
        if row.routed is None or row.beside is None:  # a version that could not score the case: not comparable
            continue
        ours, theirs = (row.routed, row.beside) if is_canary else (row.beside, row.routed)
        truth.append(label)
        weights.append(weight)
        challenger_p.append(ours)
        champion_p.append(theirs)
    spec, alpha = flow.learning.canary, flow.learning.gate.alpha
    comparison = test = None
    if truth:
        comparison = compare_probabilities(
            flow.labels,
            truth,
            np.array(champion_p),
            np.array(challenger_p),
            weights=weights,
            resamples=flow.learning.gate.resamples,
            confidence=1 - alpha,
        )
        index = np.array([flow.labels.index(t) for t in truth])
        test = discordance(
            np.array(champion_p).argmax(axis=1) == index, np.array(challenger_p).argmax(axis=1) == index, weights
        )
    significant = test is not None and len(truth) >= spec.min_evidence and test.z > 0 and test.p_value < alpha
    worse = is_canary and significant  # a shadow found worse has no effect to undo: it is only reported
    return Running(
        flow=flow.name,
        champion=serving.version,
        challenger=challenger,
        cases=len(rows),
        labelled=len(truth),
        comparison=comparison,
        test=test,
        min_evidence=spec.min_evidence,
        alpha=alpha,
        worse=worse,
        statement=_statement(challenger, len(truth), comparison, test, spec.min_evidence, alpha, significant),
    )


def _statement(
    challenger: ModelVersion,
    labelled: int,
    comparison: Comparison | None,
    test: Discordance | None,
    min_evidence: int,
    alpha: float,
    worse: bool,
) -> str:
    if comparison is None or test is None:
        return f"{challenger.version}: no labelled case yet"
    errors = (
        f"error {1 - comparison.champion.accuracy:.4f} (champion) and {1 - comparison.challenger.accuracy:.4f} "
        f"({challenger.version}) on {labelled} labelled cases ({comparison.effective_n:.1f} effective, weighted)"
    )
    paired = (
        f"{challenger.version} alone wrong on {test.challenger_only} cases, the champion alone on "
        f"{test.champion_only}: z = {test.z:+.2f}, p = {test.p_value:.4g} (alpha {alpha})"
    )
    if worse:
        verdict = "significantly worse"
    elif labelled < min_evidence:
        verdict = f"fewer labelled cases than the {min_evidence} needed to judge it"
    else:
        verdict = "not significantly worse"
    return f"{errors}; {paired}: {verdict}"


def watch(db: Database, flow: Flow, actor: str = WATCHER) -> Running | None:
    """Weigh the flow's canary and end it when it is significantly worse than the champion, audited
    (``model.canary_rolled_back`` with the evidence). Safe to run in every process at once: the status changes
    once."""
    found = running(db, flow)
    if found is None or not found.worse:
        return found
    reason = f"rolled back by itself: {found.statement}"
    summary = found.summary() | {"reason": reason}
    event = AuditEvent(actor, "model.canary_rolled_back", "model_version", str(found.challenger.id), summary)
    with contextlib.suppress(Conflict):  # another process ended it meanwhile
        end(db, flow, found.challenger.version, actor=actor, reason=reason, events=[event])
    return found


def watch_all(db: Database, project: Project) -> None:
    """``watch`` every flow of the project (the server runs it on a timer)."""
    for flow in project.flows.values():
        watch(db, flow)


def rollback(
    db: Database, project: Project, flow: Flow, version: str | None, *, actor: str, reason: str
) -> promotion.Rollback:
    """End the flow's shadow or canary when it is the version named (or none is named); else roll the champion
    back (``promotion.rollback``). Audited (``model.rolled_back``)."""
    challenger = registry.challenger(db, flow)
    if challenger is None or version not in (None, challenger.version):
        return promotion.rollback(db, project, flow, version, actor=actor, reason=reason)
    serving = registry.champion(db, flow)
    if serving is None:
        raise Conflict(f"flow {flow.name!r} has no champion to serve in place of {challenger.version}")
    data = {"flow": flow.name, "from": challenger.version, "to": serving.version, "reason": reason}
    event = AuditEvent(actor, "model.rolled_back", "model_version", str(serving.id), data)
    ended = end(db, flow, challenger.version, actor=actor, reason=reason, events=[event])
    return promotion.Rollback(ended, serving, 0)
