"""Replay labelled cases through a policy: what it flags, which model errors it catches, what it lets through."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from signoff.domain import Verdict
from signoff.routing import Batch, Policy, PolicyState
from signoff.routing import calibration as stats

COVERAGES = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


@dataclass(frozen=True)
class Evaluation:
    cases: int
    flag_rate: float
    audit_rate: float
    model_errors: int
    errors_caught: float
    auto_error: float | None
    by_rule: dict[str, int]
    coverage: list[float]
    risk: list[float]
    table: list[tuple[float, float, float]]

    @property
    def auto_coverage(self) -> float:
        return 1 - self.flag_rate


def evaluate(policy: Policy, state: PolicyState, batch: Batch, truth: list[str]) -> Evaluation:
    """Route the batch as the engine would, then compare with the known labels."""
    labels = policy.flow.labels
    routes = policy.route(batch, state)
    n = len(routes)
    flagged = np.array([r.verdict is Verdict.REVIEW for r in routes], dtype=bool)
    audited = np.array([r.verdict is Verdict.AUDIT for r in routes], dtype=bool)
    predicted = batch.probabilities.argmax(axis=1)
    wrong = predicted != np.array([labels.index(t) for t in truth])
    auto = ~flagged
    confidence = batch.probabilities.max(axis=1)
    curve = stats.risk_coverage(confidence, ~wrong)
    table = []
    for target in COVERAGES:
        index = int(np.searchsorted(curve.coverage, target, side="left"))
        index = min(index, len(curve.coverage) - 1)
        threshold = float(np.unique(confidence)[::-1][index])
        table.append((float(curve.coverage[index]), threshold, float(curve.risk[index])))
    return Evaluation(
        cases=n,
        flag_rate=float(flagged.mean()) if n else 0.0,
        audit_rate=float(audited.mean()) if n else 0.0,
        model_errors=int(wrong.sum()),
        errors_caught=float((wrong & flagged).sum() / wrong.sum()) if wrong.any() else 1.0,
        auto_error=float(wrong[auto].mean()) if auto.any() else None,
        by_rule=dict(Counter(r.rule for r in routes if r.rule is not None)),
        coverage=[float(c) for c in curve.coverage],
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
