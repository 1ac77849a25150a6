"""A policy is the ordered rules of a flow. The first rule that fires sends the case to review.

Each rule works on whole arrays (one vectorised mask for the batch) and explains itself per case, so every
route carries the rule that fired and a reason a reviewer can read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from signoff.config import BandRule, Flow, ThresholdRule
from signoff.domain import Verdict

INVALID_OUTPUT_RULE = "invalid-model-output"

Floats = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Route:
    """The policy's verdict for one case, with the rule that fired and why."""

    verdict: Verdict
    rule: str | None
    reason: str
    queue: str | None
    priority: int


def _fires(rule: ThresholdRule | BandRule, probabilities: Floats, labels: tuple[str, ...]) -> Mask:
    if isinstance(rule, ThresholdRule):
        return np.asarray(probabilities.max(axis=1) < rule.min_confidence)
    p = probabilities[:, labels.index(rule.label)]
    inside = (p >= rule.low) & (p <= rule.high)
    return np.asarray(inside if rule.review == "inside" else ~inside)


def _shown(value: float, *limits: float) -> str:
    """``value`` with enough decimals that it never seems to sit on the other side of a limit it is compared to."""
    for digits in range(3, 18):
        text = f"{value:.{digits}f}"
        if all(np.sign(float(text) - limit) == np.sign(value - limit) for limit in limits):
            return text
    return repr(value)


def _reason(rule: ThresholdRule | BandRule, row: Floats, labels: tuple[str, ...]) -> str:
    if isinstance(rule, ThresholdRule):
        top = int(row.argmax())
        return (
            f"the model's confidence {_shown(row[top], rule.min_confidence)} (for {labels[top]!r}) is below "
            f"{rule.min_confidence:g} (rule {rule.name!r})"
        )
    p = row[labels.index(rule.label)]
    return (
        f"the probability of {rule.label!r} is {_shown(p, rule.low, rule.high)}, {rule.review} the review band "
        f"[{rule.low:g}, {rule.high:g}] (rule {rule.name!r})"
    )


class Policy:
    """The compiled policy of one flow; ``version`` is the content hash of its rules and queues."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.version = flow.policy_version
        self.rules = flow.policy

    def route(self, probabilities: Floats, problems: Sequence[str | None]) -> list[Route]:
        """Route every row of ``probabilities`` (flow label order); rows with a problem always go to review."""
        labels, n = self.flow.labels, len(problems)
        invalid = np.array([p is not None for p in problems], dtype=bool)
        safe = np.where(invalid[:, None], 0.0, probabilities) if n else probabilities
        chosen = np.full(n, -1)
        undecided = ~invalid
        for index, rule in enumerate(self.rules):
            hit = undecided & _fires(rule, safe, labels)
            chosen[hit] = index
            undecided &= ~hit
        routes: list[Route] = []
        for i in range(n):
            problem = problems[i]
            if problem is not None:
                routes.append(
                    Route(
                        Verdict.REVIEW,
                        INVALID_OUTPUT_RULE,
                        f"invalid model output: {problem}",
                        self.flow.default_queue,
                        0,
                    )
                )
            elif chosen[i] >= 0:
                rule = self.rules[chosen[i]]
                routes.append(
                    Route(
                        Verdict.REVIEW,
                        rule.name,
                        _reason(rule, safe[i], labels),
                        rule.queue or self.flow.default_queue,
                        rule.priority,
                    )
                )
            else:
                top = int(safe[i].argmax())
                routes.append(
                    Route(
                        Verdict.AUTO,
                        None,
                        f"no rule fired; the model decides {labels[top]!r} with confidence {safe[i, top]:.3f}",
                        None,
                        0,
                    )
                )
        return routes
