"""Gold tasks: cases with known answers, served like any other task, that measure each reviewer.

A reviewer is paused for a queue when the evidence says they are below its bar: at least ``min_answers``
gold answers there, and even the upper end of the 95% Wilson score interval of their accuracy is under
``min_accuracy``. A reviewer unlucky on a few answers is not paused; one clearly below the bar is.
"""

from __future__ import annotations

from signoff.config.flows import GoldSpec
from signoff.metrics.estimates import wilson_interval


def pause_reason(spec: GoldSpec, answered: int, correct: int) -> str | None:
    """Why this record of gold answers pauses the reviewer, or None if it does not."""
    if answered < spec.min_answers:
        return None
    estimate = wilson_interval(correct, answered)
    assert estimate is not None  # answered >= min_answers >= 1
    upper = estimate.high
    if upper >= spec.min_accuracy:
        return None
    return (
        f"gold accuracy {correct}/{answered} = {correct / answered:.0%} (95% interval up to {upper:.0%}) is below "
        f"the queue's {spec.min_accuracy:.0%}"
    )
