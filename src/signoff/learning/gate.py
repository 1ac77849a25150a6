"""The promotion gate: whether a challenger may replace the champion, decided on evidence alone.

A pure function of the comparison (``signoff.learning.compare``) on human-verified cases neither model trained
on, the comparison on the random audit sample (weighted by inclusion probability), the flow's ``learning.gate``
settings and whether the policy's certified rules can still certify with the challenger's scores (computed
elsewhere, recalibrated on the challenger's own scores). Every condition is checked
and every one that fails is named with its numbers, so that a refusal says what to fix and a promotion says what it
rested on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from signoff.config.flows import GateSpec
from signoff.learning.records import Comparison, GroupComparison
from signoff.routing.calibration import Certificate, Refusal

NAMES = {"auc": "AUC", "accuracy": "accuracy"}


@dataclass(frozen=True)
class CertifiedRules:
    """Whether the policy's certified rules can still certify with the challenger's scores, and why (or why not).
    A policy without certified rules passes: ``CertifiedRules(True, "the policy has no certified rule")``."""

    able: bool
    reason: str

    @classmethod
    def of(cls, certificates: Mapping[str, Mapping[str | None, Certificate | Refusal]]) -> CertifiedRules:
        """From each certified rule's calibration with the challenger's scores (by rule, then segment; a
        ``Certificate`` or a ``Refusal``, as ``signoff.learning.calibrate`` returns them): able when no rule
        refuses."""
        if not certificates:
            return cls(True, "the policy has no certified rule")
        refused = [
            f"rule {rule!r}{'' if segment is None else f' (segment {segment!r})'} {result.statement}"
            for rule, segments in certificates.items()
            for segment, result in segments.items()
            if isinstance(result, Refusal)
        ]
        if refused:
            return cls(False, "; ".join(refused))
        return cls(True, f"{len(certificates)} certified rule(s) still certify with the challenger's scores")


@dataclass(frozen=True)
class Evidence:
    """What the gate judges: the comparison on the held-out cases, the certified rules' verdict on the challenger's
    scores and, when there is one, the comparison on the random audit sample, weighted by inclusion probability."""

    comparison: Comparison
    certified: CertifiedRules
    audit_sample: Comparison | None = None


@dataclass(frozen=True)
class GateDecision:
    """``promote`` when every condition holds. ``reasons`` names each failed condition with its numbers;
    ``passed`` each condition met, with its numbers, so the decision can be audited as it was taken."""

    promote: bool
    reasons: tuple[str, ...]
    passed: tuple[str, ...]


def judge(evidence: Evidence, spec: GateSpec) -> GateDecision:
    """Apply the gate's five conditions: enough evidence, a significant gain, no group regression, certified rules
    still certifying, not significantly worse on the audit sample. Each bootstrap interval must be the one
    ``spec.alpha`` asks for (confidence 1 - alpha)."""
    comparison = evidence.comparison
    for compared in (comparison, evidence.audit_sample):
        bootstrap = None if compared is None else compared.auc_difference
        if bootstrap is not None and abs(bootstrap.confidence - (1 - spec.alpha)) > 1e-9:
            raise ValueError(
                f"the comparison's interval is at confidence {bootstrap.confidence}, the gate asks for {1 - spec.alpha}"
            )
    checks = [
        _evidence(comparison, spec),
        _gain(comparison, spec),
        *_groups(comparison.groups, spec),
        (evidence.certified.able, f"certified rules: {evidence.certified.reason}"),
        *_audit_sample(evidence.audit_sample, spec),
    ]
    reasons = tuple(text for ok, text in checks if not ok)
    return GateDecision(not reasons, reasons, tuple(text for ok, text in checks if ok))


def _evidence(comparison: Comparison, spec: GateSpec) -> tuple[bool, str]:
    """Enough cases, counted by their effective number when they are weighted: a few audit cases weighing 100 each
    are not hundreds of cases' evidence."""
    count = f"{comparison.n} labelled cases"
    if comparison.effective_n < comparison.n - 1e-9:
        count += f" ({comparison.effective_n:.1f} effective, as weighted)"
    if comparison.effective_n < spec.min_evidence - 1e-9:
        return False, f"evidence: {count}, fewer than the {spec.min_evidence} required"
    return True, f"evidence: {count}, at least the {spec.min_evidence} required"


def _gain(comparison: Comparison, spec: GateSpec) -> tuple[bool, str]:
    if spec.metric == "auc":
        bootstrap = comparison.auc_difference
        if bootstrap is None:
            return False, "gain: AUC is undefined on these cases (a single label among them)"
        interval = (
            f"AUC {_f(comparison.champion.auc)} -> {_f(comparison.challenger.auc)}, a gain of "
            f"{bootstrap.difference:+.4f} ({bootstrap.confidence:.0%} paired bootstrap interval "
            f"{bootstrap.low:+.4f} to {bootstrap.high:+.4f})"
        )
        if bootstrap.low > spec.min_gain:
            return True, f"gain: {interval}: its lower bound is above the required {spec.min_gain:.4f}"
        return False, f"gain: {interval}: its lower bound is not above the required {spec.min_gain:.4f}"
    test = comparison.mcnemar
    gain = comparison.challenger.accuracy - comparison.champion.accuracy
    text = (
        f"accuracy {comparison.champion.accuracy:.4f} -> {comparison.challenger.accuracy:.4f}, a gain of "
        f"{gain:+.4f} (required {spec.min_gain:.4f}); McNemar: the challenger alone right on "
        f"{test.challenger_only} cases, the champion alone on {test.champion_only}, p = {test.p_value:.4g} "
        f"(alpha {spec.alpha})"
    )
    better = gain >= spec.min_gain and test.challenger_only > test.champion_only and test.p_value < spec.alpha
    return better, f"gain: {text}"


def _audit_sample(sample: Comparison | None, spec: GateSpec) -> list[tuple[bool, str]]:
    """A safety net, not a second gain test: the audit sample stands for the cases the model decides alone, which
    the held-out set (mostly flagged and outcome cases) may under-represent. It refuses only a challenger
    significantly worse on it, and only with at least ``min_evidence`` effective cases (Kish's, as weighted)."""
    if sample is None:
        return []
    count = f"{sample.n} audited cases ({sample.effective_n:.1f} effective, as weighted)"
    if sample.effective_n < spec.min_evidence - 1e-9:
        return [(True, f"audit sample: {count}, fewer than the {spec.min_evidence} needed to judge it: not judged")]
    if spec.metric == "auc":
        bootstrap = sample.auc_difference
        if bootstrap is None:
            return [(True, f"audit sample: {count}, AUC undefined (a single label among them): not judged")]
        text = (
            f"audit sample: AUC {_f(sample.champion.auc)} -> {_f(sample.challenger.auc)} on {count}, a change of "
            f"{bootstrap.difference:+.4f} ({bootstrap.confidence:.0%} paired bootstrap interval "
            f"{bootstrap.low:+.4f} to {bootstrap.high:+.4f})"
        )
        if bootstrap.high < 0:
            return [(False, f"{text}: significantly worse")]
        return [(True, f"{text}: not significantly worse")]
    test = sample.mcnemar
    text = (
        f"audit sample: accuracy {sample.champion.accuracy:.4f} -> {sample.challenger.accuracy:.4f} on {count}; "
        f"McNemar: the challenger alone right on {test.challenger_only} cases, the champion alone on "
        f"{test.champion_only}, p = {test.p_value:.4g} (alpha {spec.alpha})"
    )
    worse = (
        sample.challenger.accuracy < sample.champion.accuracy
        and test.champion_only > test.challenger_only
        and test.p_value < spec.alpha
    )
    return [(not worse, f"{text}: {'significantly worse' if worse else 'not significantly worse'}")]


def _groups(groups: tuple[GroupComparison, ...], spec: GateSpec) -> list[tuple[bool, str]]:
    name = NAMES[spec.metric]
    checks: list[tuple[bool, str]] = []
    small: list[str] = []
    for group in groups:
        where = f"{group.attribute}={group.group}"
        before, after = group.champion.metric(spec.metric), group.challenger.metric(spec.metric)
        if group.champion.n < spec.min_group_cases:
            small.append(f"{where} ({group.champion.n})")
            continue
        if before is None or after is None:
            small.append(f"{where} ({name} undefined)")
            continue
        drop = before - after
        text = f"group {where}: {name} {before:.4f} -> {after:.4f} on {group.champion.n} cases"
        if drop > spec.max_group_drop:
            checks.append((False, f"{text}, a drop of {drop:.4f}, more than the {spec.max_group_drop:.4f} allowed"))
        else:
            checks.append((True, f"{text}, within the {spec.max_group_drop:.4f} drop allowed"))
    if small:
        checks.append(
            (True, f"groups not judged, fewer than {spec.min_group_cases} cases or no {name}: {', '.join(small)}")
        )
    return checks


def _f(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4f}"
