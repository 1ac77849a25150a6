"""Replay labelled cases through a policy: what it flags, which model errors it catches, what it lets through."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from signoff.domain import Verdict
from signoff.routing import Batch, Policy, PolicyState
from signoff.routing import calibration as stats
from signoff.routing.calibration import Certificate

COVERAGES = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


@dataclass(frozen=True)
class RuleCertificate:
    """What a learning rule was calibrated to for this replay: its certificate, or its refusal and the reason.
    ``segment`` is None for the whole flow; ``threshold`` and ``accepted`` are None for a refusal."""

    rule: str
    segment: str | None
    certified: bool
    guarantee: str
    alpha: float
    delta: float | None
    threshold: float | None
    calibration_size: int
    accepted: int | None
    method: str
    statement: str
    reason: str | None


@dataclass(frozen=True)
class Evaluation:
    """A replay's numbers. ``unscored`` cases (no valid score from the model) are routed to review as in the
    engine; they count in ``cases`` and ``flag_rate``, not among ``model_errors``, and the risk-coverage curve
    counts them as deferred: its coverage is a share of every case, so it stops below 100% when any is unscored."""

    cases: int
    unscored: int
    flag_rate: float
    audit_rate: float
    model_errors: int
    errors_caught: float
    auto_error: float | None
    by_rule: dict[str, int]
    certificates: list[RuleCertificate]
    coverage: list[float]
    risk: list[float]
    table: list[tuple[float, float, float]]

    @property
    def auto_coverage(self) -> float:
        return 1 - self.flag_rate


def certificates_of(state: PolicyState) -> list[RuleCertificate]:
    """The state's certificates and refusals, one per rule and segment, in the policy's order."""
    found: list[RuleCertificate] = []
    by_segment = [(rule, segment, c) for rule, kept in state.certificates.items() for segment, c in kept.items()]
    for rule, segment, c in by_segment + [(rule, None, c) for rule, c in state.quantiles.items()]:
        granted = isinstance(c, Certificate)
        found.append(
            RuleCertificate(
                rule,
                segment,
                granted,
                c.guarantee,
                c.alpha,
                c.delta,
                c.threshold if isinstance(c, Certificate) else None,
                c.calibration_size,
                c.accepted if isinstance(c, Certificate) else None,
                c.method,
                c.statement,
                None if isinstance(c, Certificate) else c.reason,
            )
        )
    return found


def calibration_warnings(
    human: list[str], unscored: int, reason: str | None, found: list[RuleCertificate]
) -> list[str]:
    """What makes a calibration weak, in words: rows the model could not score (left out), a single label, and
    too few cases for a rule's certificate to exist at its alpha (and delta): ``minimum_calibration_size`` for
    selective error, ``1/alpha - 1`` for the guarantees in expectation."""
    warnings = []
    if unscored:
        warnings.append(f"{unscored:,} calibration row(s) the model could not score were left out ({reason})")
    kinds = Counter(human)
    if len(kinds) == 1:
        label = next(iter(kinds))
        warnings.append(
            f"every one of the {len(human):,} verified calibration cases is labelled {label!r}: the certificates "
            "say nothing about cases of the other labels"
        )
    for c in found:
        need = (
            stats.minimum_calibration_size(c.alpha, c.delta)
            if c.delta is not None
            else math.ceil(round(1 / c.alpha - 1, 9))
        )
        if c.calibration_size < need:
            where = c.rule if c.segment is None else f"{c.rule} (segment {c.segment})"
            warnings.append(
                f"{where}: {c.calibration_size:,} verified calibration case(s); at alpha {c.alpha:g}"
                + ("" if c.delta is None else f" and delta {c.delta:g}")
                + f" a certificate needs at least {need:,}, even if the model made no error"
            )
    return warnings


def evaluate(policy: Policy, state: PolicyState, batch: Batch, truth: list[str]) -> Evaluation:
    """Route the batch as the engine would, then compare with the known labels."""
    labels = policy.flow.labels
    routes = policy.route(batch, state)
    n = len(routes)
    flagged = np.array([r.verdict is Verdict.REVIEW for r in routes], dtype=bool)
    audited = np.array([r.verdict is Verdict.AUDIT for r in routes], dtype=bool)
    scored = np.array([p is None for p in batch.problems], dtype=bool)
    if batch.probabilities.size:
        scored &= np.isfinite(batch.probabilities).all(axis=1)
    else:
        scored[:] = False
    probabilities = batch.probabilities[scored]
    predicted = probabilities.argmax(axis=1) if probabilities.size else np.zeros(0, dtype=int)
    wrong = np.zeros(n, dtype=bool)
    wrong[scored] = predicted != np.array([labels.index(t) for t, s in zip(truth, scored, strict=True) if s])
    auto = ~flagged
    confidence = probabilities.max(axis=1) if probabilities.size else np.zeros(0)
    curve = stats.risk_coverage(confidence, ~wrong[scored])
    coverage = curve.coverage * (confidence.size / n) if n else curve.coverage  # unscored cases are deferred
    thresholds = np.unique(confidence)[::-1]
    table: list[tuple[float, float, float]] = []
    for target in COVERAGES:  # a target beyond the last point (unscored cases) or between two gives no new row
        if not coverage.size:
            break
        index = min(int(np.searchsorted(coverage, target - 1e-12, side="left")), coverage.size - 1)
        row = (float(coverage[index]), float(thresholds[index]), float(curve.risk[index]))
        if not table or table[-1] != row:
            table.append(row)
    return Evaluation(
        cases=n,
        unscored=int(n - scored.sum()),
        flag_rate=float(flagged.mean()) if n else 0.0,
        audit_rate=float(audited.mean()) if n else 0.0,
        model_errors=int(wrong.sum()),
        errors_caught=float((wrong & flagged).sum() / wrong.sum()) if wrong.any() else 1.0,
        auto_error=float(wrong[auto].mean()) if auto.any() else None,
        by_rule=dict(Counter(r.rule for r in routes if r.rule is not None)),
        certificates=certificates_of(state),
        coverage=[float(c) for c in coverage],
        risk=[float(r) for r in curve.risk],
        table=table,
    )


def plot(evaluation: Evaluation, path: Path, title: str) -> Path:
    """Draw the risk-coverage curve with the policy's operating point (PNG or SVG, by the file's suffix)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=120)
    axes.plot(
        np.array(evaluation.coverage) * 100,
        np.array(evaluation.risk) * 100,
        color="#1f5f8b",
        lw=2,
        label="model alone, by confidence",
    )
    if evaluation.auto_error is not None:
        axes.scatter(
            [evaluation.auto_coverage * 100],
            [evaluation.auto_error * 100],
            color="#c0392b",
            zorder=3,
            s=60,
            label=f"this policy: {evaluation.auto_coverage:.1%} auto, {evaluation.auto_error:.2%} wrong",
        )
    axes.set_xlabel("coverage: cases decided by the model (%)")
    axes.set_ylabel("error among those cases (%)")
    axes.set_title(title)
    axes.set_xlim(0, 100)
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", frameon=False)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
