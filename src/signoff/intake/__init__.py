"""Layer 1: cases come in (one, a batch, or a file), are validated, scored, routed and recorded."""

from __future__ import annotations

from signoff.inputs.validation import Batch, CaseInput, Entry, validate_batch, validate_case
from signoff.intake.runtime import (
    CalibrationSet,
    FlowRuntime,
    calibration_set,
    load,
    prepare,
    recalibrate,
    refresh,
    warm_up,
    with_alpha,
    with_rules,
)
from signoff.intake.service import add_gold, batch_of, route, submit
from signoff.store.records import Submitted

__all__ = [
    "Batch",
    "CalibrationSet",
    "CaseInput",
    "Entry",
    "FlowRuntime",
    "Submitted",
    "add_gold",
    "batch_of",
    "calibration_set",
    "load",
    "prepare",
    "recalibrate",
    "refresh",
    "route",
    "submit",
    "validate_batch",
    "validate_case",
    "warm_up",
    "with_alpha",
    "with_rules",
]
