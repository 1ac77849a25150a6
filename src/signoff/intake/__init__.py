"""Layer 1: cases come in (one, a batch, or a file), are validated, scored, routed and recorded."""

from __future__ import annotations

from signoff.intake.service import FlowRuntime, Submitted, load, prepare, route, submit
from signoff.intake.validation import CaseInput, validate_case

__all__ = ["CaseInput", "FlowRuntime", "Submitted", "load", "prepare", "route", "submit", "validate_case"]
