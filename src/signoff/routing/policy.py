"""The flagging engine. A policy is the ordered rules of a flow; the first rule that fires sends the case to
review. Cases no rule sends may still be drawn into the random audit.

Every rule works on whole arrays (one vectorised mask per batch) and explains itself per flagged case, so each
route carries the rule that fired and a reason a reviewer can read. Rules that learn from data (capacity,
certified, joint risk, conformal) read it from a ``PolicyState`` that the caller builds; the engine itself does
no I/O and keeps no state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd

from signoff.config import (
    BandRule,
    CapacityRule,
    CertifiedRule,
    ConformalRule,
    ExpressionRule,
    Flow,
    JointRiskRule,
    OutOfDistributionRule,
    Rule,
    ThresholdRule,
    UncertaintyRule,
)
from signoff.config.policy import DAYS, BySegment, Schedule
from signoff.domain import Verdict
from signoff.errors import MODEL_UNAVAILABLE, ConfigError, InvalidInput, Problem
from signoff.routing import uncertainty
from signoff.routing.calibration import Certificate, Refusal
from signoff.routing.expressions import Expression, compile_expression

INVALID_OUTPUT_RULE = "invalid-model-output"
COLD_START_RULE = "cold-start"
MODEL_DOWN_RULE = "model-unavailable"
"""The rule of a case a remote model could not score, sent to review (the flow's ``model.when_down: review``)."""
HELD_RULE = "held"
"""The rule of a case held until its remote model answers again (``model.when_down: hold``): no task, no decision."""
NO_MODEL = (
    "the flow has no model yet (cold start): every case goes to review until a first model is registered and promoted"
)
"""The problem a flow without a model gives every case: its route names the cold start, not an invalid output."""

Floats = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]
Explain = Callable[[int], str]


@dataclass(frozen=True)
class Route:
    """The policy's verdict for one case, with the rule that fired, why, and where its task goes."""

    verdict: Verdict
    rule: str | None
    reason: str
    queue: str | None = None
    role: str | None = None
    priority: int = 0
    sla: float | None = None
    inclusion_probability: float | None = None


@dataclass(frozen=True)
class Batch:
    """What the engine sees of a batch of cases: scores, field columns, the moment, and audit draws."""

    probabilities: Floats
    problems: Sequence[str | None]
    columns: Mapping[str, npt.NDArray[Any]] = field(default_factory=dict)
    now: datetime | None = None
    draws: Floats | None = None
    members: npt.NDArray[np.float64] | None = None
    novelty: Mapping[str, Floats] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.problems)


@dataclass(frozen=True)
class PolicyState:
    """What the learning rules know now: recent scores for capacity rules; certificates per rule and segment
    (``None`` is the whole flow) for certified and joint-risk rules; the conformal quantile per rule."""

    history: Mapping[str, Floats] = field(default_factory=dict)
    certificates: Mapping[str, Mapping[str | None, Certificate | Refusal]] = field(default_factory=dict)
    quantiles: Mapping[str, Certificate | Refusal] = field(default_factory=dict)


EMPTY_STATE = PolicyState()

AUTO, REVIEW, AUDIT = 0, 1, 2
VERDICTS = (Verdict.AUTO, Verdict.REVIEW, Verdict.AUDIT)
NO_RULE, INVALID = -1, -2


@dataclass(frozen=True)
class Decisions:
    """The routes of a batch as arrays: ``verdict`` (AUTO, REVIEW, AUDIT), ``rule`` (index into the policy's
    rules, NO_RULE, or INVALID for bad model output) and each auto case's audit inclusion probability."""

    policy: Policy
    batch: Batch
    verdict: npt.NDArray[np.int8]
    rule: npt.NDArray[np.int16]
    inclusion: Floats
    explain: Sequence[Explain]
    census: Mask

    def __len__(self) -> int:
        return len(self.verdict)

    def route(self, i: int) -> Route:
        """Case ``i``'s route, with its reason in words."""
        flow, rule_index = self.policy.flow, int(self.rule[i])
        if rule_index == INVALID and self.batch.problems[i] == NO_MODEL:
            return Route(Verdict.REVIEW, COLD_START_RULE, NO_MODEL, flow.default_queue)
        problem = self.batch.problems[i]
        if rule_index == INVALID and problem is not None and problem.startswith(MODEL_UNAVAILABLE):
            if flow.model is not None and flow.model.holds:
                return Route(Verdict.REVIEW, HELD_RULE, f"held until the model answers again: {problem}")
            return Route(Verdict.REVIEW, MODEL_DOWN_RULE, f"{problem}: sent to review", flow.default_queue)
        if rule_index == INVALID:
            return Route(
                Verdict.REVIEW,
                INVALID_OUTPUT_RULE,
                f"invalid model output: {self.batch.problems[i]}",
                flow.default_queue,
            )
        if rule_index >= 0:
            rule = self.policy.rules[rule_index]
            return Route(
                Verdict.REVIEW,
                rule.name,
                f"{self.explain[rule_index](i)} (rule {rule.name!r})",
                rule.queue or flow.default_queue,
                rule.role,
                rule.priority,
                rule.sla,
                # Reviewed because the rule cannot certify yet: every such case is reviewed, so the answers are
                # a census of the cases the rule will decide, fit to calibrate it (probability 1 of inclusion).
                1.0 if self.census[i] else None,
            )
        row = self.batch.probabilities[i]
        top = int(row.argmax())
        decided = f"no rule fired; the model decides {flow.labels[top]!r} with confidence {row[top]:.3f}"
        p = float(self.inclusion[i])
        if self.verdict[i] == AUDIT:
            audit = flow.audit
            return Route(
                Verdict.AUDIT,
                None,
                f"{decided}; also drawn for the random audit (inclusion probability {p:g})",
                audit.queue or flow.default_queue,
                None,
                audit.priority,
                None,
                p,
            )
        return Route(Verdict.AUTO, None, decided, inclusion_probability=p)

    def routes(self) -> list[Route]:
        return [self.route(i) for i in range(len(self))]


@dataclass(frozen=True)
class Profile:
    """The training data's footprint, for out-of-distribution rules: numeric ranges and seen categories."""

    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    categories: Mapping[str, frozenset[str]] = field(default_factory=dict)


def _fmt(value: float, *limits: float) -> str:
    """``value`` with enough decimals that it never seems to sit on the other side of a limit it is compared to."""
    for digits in range(3, 18):
        text = f"{value:.{digits}f}"
        if all(np.sign(float(text) - limit) == np.sign(value - limit) for limit in limits):
            return text
    return repr(value)


def _scheduled(schedule: Schedule | None, now: datetime | None) -> float | None:
    """The value of the first window that contains ``now`` in the schedule's time zone, if any."""
    if schedule is None or now is None:
        return None
    local = now.astimezone(ZoneInfo(schedule.timezone))
    day, hour = DAYS[local.weekday()], local.hour
    for window in schedule.windows:
        start, end = window.hours
        in_hours = start <= hour < end if start < end else (hour >= start or hour < end)
        if day in window.days and in_hours:
            return window.value
    return None


def score_of(kind: str, batch: Batch) -> Floats | None:
    """The score a rule ranks cases by: the top-class probability, or the ensemble's mean probability for the
    model's own label (a better ranking of its likely errors; None when the model has no members)."""
    p = batch.probabilities
    if kind == "confidence":
        return p.max(axis=1) if len(p) else np.zeros(0)
    if batch.members is None:
        return None
    chosen = p.argmax(axis=1)
    score = np.asarray(batch.members.mean(axis=0)[np.arange(len(p)), chosen], dtype=np.float64)
    return np.where(np.isfinite(score), score, -np.inf)  # a member that failed makes the case least trusted


def _segment_values(segment: BySegment, base: float, batch: Batch) -> Floats:
    column = batch.columns.get(segment.field)
    if column is None:
        return np.full(len(batch), base)
    keys = pd.Series(column, dtype=object)
    if np.asarray(column).dtype.kind == "f":  # integer segments arrive as floats: match the file's "3", not "3.0"
        keys = keys.map(lambda v: None if v != v else str(int(v)) if float(v).is_integer() else str(v))
    return np.asarray(keys.map(segment.values).fillna(base), dtype=np.float64)


def _limits(rule: ThresholdRule | UncertaintyRule, base: float, batch: Batch) -> tuple[Floats, str]:
    """Per-case limits: the segment's value if set, replaced by the schedule's when one of its windows applies."""
    scheduled = _scheduled(rule.schedule, batch.now)
    if scheduled is not None:
        return np.full(len(batch), scheduled), " (by schedule)"
    if rule.by_segment is not None:
        return _segment_values(rule.by_segment, base, batch), f" (for this {rule.by_segment.field})"
    return np.full(len(batch), base), ""


def _segment_keys(batch: Batch, field_name: str | None) -> list[str | None]:
    if field_name is None:
        return [None] * len(batch)
    column = batch.columns.get(field_name)
    return [None] * len(batch) if column is None else [None if v is None else str(v) for v in column]


class Policy:
    """The compiled policy of one flow; ``version`` is the content hash of its rules, queues and audit."""

    def __init__(self, flow: Flow, profile: Profile | None = None) -> None:
        self.flow = flow
        self.version = flow.policy_version
        self.rules = flow.policy
        self.profile = profile or Profile()
        self._expressions = self._compile_expressions()
        self.needs_members = any(
            (isinstance(r, UncertaintyRule) and r.measure in ("vote_entropy", "spread"))
            or getattr(r, "score", "confidence") == "ensemble"
            for r in self.rules
        )

    def _compile_expressions(self) -> dict[str, Expression]:
        schema = {name: spec.type for name, spec in self.flow.fields.items()}
        compiled: dict[str, Expression] = {}
        problems: list[Problem] = []
        for index, rule in enumerate(self.rules):
            if isinstance(rule, ExpressionRule):
                where = f"flows.{self.flow.name}.policy[{index}].when"
                try:
                    compiled[rule.name] = compile_expression(rule.when, schema, where)
                except InvalidInput as error:
                    problems.extend(error.problems)
        if problems:
            raise ConfigError(f"flow {self.flow.name!r}", problems)
        return compiled

    @property
    def learning_rules(self) -> list[Rule]:
        """Rules that need calibration data or score history."""
        kinds = (CapacityRule, CertifiedRule, JointRiskRule, ConformalRule)
        return [rule for rule in self.rules if isinstance(rule, kinds)]

    def decide(self, batch: Batch, state: PolicyState = EMPTY_STATE) -> Decisions:
        """Route the whole batch as arrays; reasons are worded only when asked for (``Decisions.route``)."""
        n = len(batch)
        invalid = np.fromiter((p is not None for p in batch.problems), dtype=bool, count=n)
        safe = np.where(invalid[:, None], 0.0, batch.probabilities) if invalid.any() else batch.probabilities
        scored = Batch(safe, batch.problems, batch.columns, batch.now, batch.draws, batch.members, batch.novelty)
        rule = np.full(n, NO_RULE, dtype=np.int16)
        rule[invalid] = INVALID
        explain: list[Explain] = []
        census = np.zeros(n, dtype=bool)
        undecided = ~invalid
        for index, candidate in enumerate(self.rules):
            if not undecided.any():
                break
            mask, why = self._fires(candidate, scored, state)
            hit = undecided & mask
            rule[hit] = index
            if isinstance(candidate, CertifiedRule | JointRiskRule | ConformalRule):
                census |= hit & self._uncertified(candidate, scored, state)
            undecided &= ~hit
            explain.append(why)
        rates = self._audit_rates(scored)
        draws = batch.draws if batch.draws is not None else np.ones(n)
        verdict = np.where(rule == NO_RULE, AUTO, REVIEW).astype(np.int8)
        verdict[(rule == NO_RULE) & (draws < rates)] = AUDIT
        return Decisions(self, scored, verdict, rule, np.where(rule == NO_RULE, rates, np.nan), explain, census)

    def _uncertified(
        self, rule: CertifiedRule | JointRiskRule | ConformalRule, batch: Batch, state: PolicyState
    ) -> Mask:
        """Where the rule has no guarantee to give (and so reviews every case)."""
        if isinstance(rule, ConformalRule):
            return np.full(len(batch), not isinstance(state.quantiles.get(rule.name), Certificate))
        if score_of(rule.score, batch) is None:
            return np.ones(len(batch), dtype=bool)
        found = state.certificates.get(rule.name, {})
        keys = _segment_keys(batch, rule.segment_field if isinstance(rule, CertifiedRule) else None)
        return np.array([not isinstance(found.get(key), Certificate) for key in keys], dtype=bool)

    def route(self, batch: Batch, state: PolicyState = EMPTY_STATE) -> list[Route]:
        """Route every case of the batch; a case with a problem in its model output always goes to review."""
        return self.decide(batch, state).routes()

    def _audit_rates(self, batch: Batch) -> Floats:
        audit = self.flow.audit
        if audit.by_segment is None:
            return np.full(len(batch), audit.rate)
        return _segment_values(audit.by_segment, audit.rate, batch)

    def capacity_scores(self, batch: Batch) -> dict[str, Floats]:
        """What each capacity rule ranks by, for the valid cases of the batch (its memory of recent scores)."""
        valid = np.fromiter((p is None for p in batch.problems), dtype=bool, count=len(batch))
        return {
            rule.name: score[valid]
            for rule in self.rules
            if isinstance(rule, CapacityRule) and (score := score_of(rule.score, batch)) is not None
        }

    def _fires(self, rule: Rule, batch: Batch, state: PolicyState) -> tuple[Mask, Explain]:
        p, labels = batch.probabilities, self.flow.labels
        confidence = p.max(axis=1) if len(batch) else np.zeros(0)
        if isinstance(rule, ThresholdRule):
            limits, how = _limits(rule, rule.min_confidence, batch)
            return (
                confidence < limits,
                lambda i: (
                    f"the model's confidence {_fmt(confidence[i], limits[i])} (for {labels[int(p[i].argmax())]!r}) "
                    f"is below {limits[i]:g}{how}"
                ),
            )
        if isinstance(rule, BandRule):
            q = p[:, labels.index(rule.label)]
            inside = (q >= rule.low) & (q <= rule.high)
            return (
                (inside if rule.review == "inside" else ~inside),
                lambda i: (
                    f"the probability of {rule.label!r} is {_fmt(q[i], rule.low, rule.high)}, {rule.review} the "
                    f"review band [{rule.low:g}, {rule.high:g}]"
                ),
            )
        if isinstance(rule, UncertaintyRule):
            return self._uncertainty(rule, batch)
        if isinstance(rule, CapacityRule | CertifiedRule | JointRiskRule):
            score = score_of(rule.score, batch)
            if score is None:
                return np.ones(
                    len(batch), dtype=bool
                ), lambda _i: "this rule ranks by the ensemble score, but the model has no ensemble members"
            if isinstance(rule, CapacityRule):
                return self._capacity(rule, score, state)
            return self._certified(rule, score, batch, state)
        if isinstance(rule, ConformalRule):
            return self._conformal(rule, batch, state)
        if isinstance(rule, OutOfDistributionRule):
            return self._out_of_distribution(rule, batch)
        expression = self._expressions[rule.name]
        return expression.evaluate(batch.columns), lambda _i: f"the business rule `{expression.text}` holds"

    def _uncertainty(self, rule: UncertaintyRule, batch: Batch) -> tuple[Mask, Explain]:
        if rule.measure in ("vote_entropy", "spread"):
            if batch.members is None:
                n = len(batch)
                return np.ones(
                    n, dtype=bool
                ), lambda _i: f"{rule.measure} needs an ensemble's member predictions and the model gave none"
            values = getattr(uncertainty, rule.measure)(batch.members)
        else:
            values = getattr(uncertainty, rule.measure)(batch.probabilities)
        limits, how = _limits(rule, rule.limit, batch)
        mask = values < limits if rule.review_below else values > limits
        word = "below" if rule.review_below else "above"
        name = rule.measure.replace("_", " ")
        return mask, lambda i: f"the {name} {_fmt(values[i], limits[i])} is {word} {limits[i]:g}{how}"

    def _capacity(self, rule: CapacityRule, confidence: Floats, state: PolicyState) -> tuple[Mask, Explain]:
        history = state.history.get(rule.name, np.zeros(0))
        pool = np.concatenate([history, confidence])[-rule.window :]  # the latest scores, this batch included
        threshold = float(np.quantile(pool, rule.budget, method="higher")) if len(pool) else 0.0
        provisional = "" if len(pool) >= rule.min_history else f"; provisional, from only {len(pool)} scores"
        return (
            confidence < threshold,
            lambda i: (
                f"the {rule.score} score {_fmt(confidence[i], threshold)} is among the lowest "
                f"{rule.budget:.1%} of recent cases (below {threshold:.4f}{provisional})"
            ),
        )

    def _certified(
        self, rule: CertifiedRule | JointRiskRule, confidence: Floats, batch: Batch, state: PolicyState
    ) -> tuple[Mask, Explain]:
        by_segment = state.certificates.get(rule.name, {})
        field_name = rule.segment_field if isinstance(rule, CertifiedRule) else None
        keys = _segment_keys(batch, field_name)
        thresholds = np.empty(len(batch))
        statements: list[str] = []
        for i, key in enumerate(keys):
            found = by_segment.get(key)
            if isinstance(found, Certificate):
                thresholds[i] = found.threshold
                statements.append(found.statement)
            else:
                thresholds[i] = np.inf
                statements.append(
                    (found.statement if found is not None else "no calibration data yet")
                    + "; every case goes to review until the guarantee can be given"
                )
        return (
            confidence < thresholds,
            lambda i: (
                f"the {rule.score} score {_fmt(confidence[i], thresholds[i])} is below the certified threshold "
                f"{thresholds[i]:.4f}: {statements[i]}"
                if np.isfinite(thresholds[i])
                else statements[i]
            ),
        )

    def _conformal(self, rule: ConformalRule, batch: Batch, state: PolicyState) -> tuple[Mask, Explain]:
        found = state.quantiles.get(rule.name)
        n = len(batch)
        if not isinstance(found, Certificate):
            statement = found.statement if found is not None else "no calibration data yet"
            return np.ones(n, dtype=bool), lambda _i: f"{statement}; every case goes to review until then"
        sets = 1 - batch.probabilities <= found.threshold  # the arithmetic that made the calibration scores
        sizes = sets.sum(axis=1)
        labels = self.flow.labels

        def why(i: int) -> str:
            members = [labels[j] for j in np.flatnonzero(sets[i])]
            shown = "no label" if not members else ", ".join(repr(m) for m in members)
            return f"the {1 - found.alpha:.0%} conformal prediction set is {{{shown}}}, not a single label"

        return sizes != 1, why

    def _out_of_distribution(self, rule: OutOfDistributionRule, batch: Batch) -> tuple[Mask, Explain]:
        findings: list[tuple[Mask, Explain]] = []
        ranges = {**self.profile.ranges, **rule.ranges}
        categories = {**self.profile.categories, **{k: frozenset(v) for k, v in rule.categories.items()}}
        for name, (low, high) in ranges.items():
            if name in batch.columns:
                findings.append(_outside(name, np.asarray(batch.columns[name], dtype=np.float64), low, high))
        for name, seen in categories.items():
            if name in batch.columns:
                findings.append(_unseen(name, batch.columns[name], seen))
        scores = batch.novelty.get(rule.name)
        if rule.novelty is not None and scores is not None:
            findings.append(_novel(scores, rule.novelty.limit))
        mask = np.zeros(len(batch), dtype=bool)
        for found, _ in findings:
            mask |= found
        return mask, lambda i: "; ".join(explain(i) for found, explain in findings if found[i])


def _outside(name: str, values: Floats, low: float, high: float) -> tuple[Mask, Explain]:
    with np.errstate(invalid="ignore"):
        outside = (values < low) | (values > high)
    return outside, lambda i: f"{name} {values[i]:g} is outside the training range [{low:g}, {high:g}]"


def _unseen(name: str, column: npt.NDArray[Any], seen: frozenset[str]) -> tuple[Mask, Explain]:
    unseen = np.array([v is not None and str(v) not in seen for v in column], dtype=bool)
    return unseen, lambda i: f"{name} {column[i]!r} never occurred in the training data"


def _novel(scores: Floats, limit: float) -> tuple[Mask, Explain]:
    return scores > limit, lambda i: f"the novelty score {scores[i]:.4g} is above {limit:g}"
