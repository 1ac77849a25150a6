"""Layer 4: review tasks, leases with fencing tokens, and the reviews that decide cases. The store's records it
hands out are named here too, for the edges (which do not import the store) to annotate with."""

from __future__ import annotations

from signoff.review.service import (
    ReviewResult,
    claim,
    claimed_case,
    heartbeat,
    held,
    release,
    resume,
    skip,
    submit,
    workable_queues,
)
from signoff.review.views import case_record, decisions_since, queues_for, reviewers_for, shown_kind, task_page
from signoff.store.records import (
    Case,
    CaseRoute,
    Claim,
    Decision,
    Lease,
    Prediction,
    Review,
    ReviewerLoad,
    SealedDecision,
    Task,
)

__all__ = [
    "Case",
    "CaseRoute",
    "Claim",
    "Decision",
    "Lease",
    "Prediction",
    "Review",
    "ReviewResult",
    "ReviewerLoad",
    "SealedDecision",
    "Task",
    "case_record",
    "claim",
    "claimed_case",
    "decisions_since",
    "heartbeat",
    "held",
    "queues_for",
    "release",
    "resume",
    "reviewers_for",
    "shown_kind",
    "skip",
    "submit",
    "task_page",
    "workable_queues",
]
