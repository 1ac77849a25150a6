"""Layer 4: review tasks, leases with fencing tokens, and the reviews that decide cases."""

from __future__ import annotations

from signoff.review.service import (
    Claim,
    Outcome,
    claim,
    claimed_case,
    heartbeat,
    release,
    skip,
    submit,
    workable_queues,
)
from signoff.review.views import case_record, queues_for, reviewers_for, shown_kind, task_page

__all__ = [
    "Claim",
    "Outcome",
    "case_record",
    "claim",
    "claimed_case",
    "heartbeat",
    "queues_for",
    "release",
    "reviewers_for",
    "shown_kind",
    "skip",
    "submit",
    "task_page",
    "workable_queues",
]
