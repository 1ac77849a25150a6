"""Layer 4: review tasks, leases with fencing tokens, and the reviews that decide cases. The store's records it
hands out are named here too, for the edges (which do not import the store) to annotate with."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from signoff.review.views import (
        case_record,
        decisions_since,
        queues_for,
        reviewers_for,
        shown_kind,
        task_page,
    )
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

# Imported when first asked for: ``signoff queues`` and ``signoff reviewers`` need only ``review.queues``, and the
# service would bring routing and pandas into a command that starts for one query.
_HOMES = {
    **dict.fromkeys(
        ("ReviewResult", "claim", "claimed_case", "heartbeat", "held", "release", "resume", "skip", "submit",
         "workable_queues"),
        "signoff.review.service",
    ),
    **dict.fromkeys(
        ("case_record", "decisions_since", "queues_for", "reviewers_for", "shown_kind", "task_page"),
        "signoff.review.views",
    ),
    **dict.fromkeys(
        ("Case", "CaseRoute", "Claim", "Decision", "Lease", "Prediction", "Review", "ReviewerLoad", "SealedDecision",
         "Task"),
        "signoff.store.records",
    ),
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)


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
