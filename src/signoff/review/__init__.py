"""Layer 4: review tasks, leases with fencing tokens, and the reviews that decide cases."""

from __future__ import annotations

from signoff.review.service import (
    Claim,
    Outcome,
    claim,
    claimed_case,
    heartbeat,
    release,
    shown_kind,
    skip,
    submit,
    workable_queues,
)

__all__ = [
    "Claim",
    "Outcome",
    "claim",
    "claimed_case",
    "heartbeat",
    "release",
    "shown_kind",
    "skip",
    "submit",
    "workable_queues",
]
