"""Layer 1: cases come in (one, a batch, or a file), are validated, scored, routed and recorded."""

from __future__ import annotations

from signoff.inputs.validation import Batch, CaseInput, Entry, validate_batch, validate_case
from signoff.intake.runtime import FlowRuntime, load, prepare, recalibrate, refresh, warm_up
from signoff.intake.service import add_gold, batch_of, route, submit
from signoff.store.records import Submitted

__all__ = [
    "Batch",
    "CaseInput",
    "Entry",
    "FlowRuntime",
    "Submitted",
    "add_gold",
    "batch_of",
    "load",
    "prepare",
    "recalibrate",
    "refresh",
    "route",
    "submit",
    "validate_batch",
    "validate_case",
    "warm_up",
]
