"""Layer 6: the audit trail. Events are written with each change; one sealer hash-chains them."""

from __future__ import annotations

from signoff.audit.chain import GENESIS, chained, event_hash, row_body
from signoff.audit.changes import change
from signoff.audit.records import EXPORTS, case_history, csv_lines, jsonl_lines, sealed_events, time_bound, time_range
from signoff.audit.service import (
    PARALLEL_FROM,
    VERIFIED,
    Breach,
    Stall,
    Verification,
    VerifyReport,
    last_verification,
    record,
    seal,
    stalled,
    verify,
    verify_and_record,
)

__all__ = [
    "EXPORTS",
    "GENESIS",
    "PARALLEL_FROM",
    "VERIFIED",
    "Breach",
    "Stall",
    "Verification",
    "VerifyReport",
    "case_history",
    "chained",
    "change",
    "csv_lines",
    "event_hash",
    "jsonl_lines",
    "last_verification",
    "record",
    "row_body",
    "seal",
    "sealed_events",
    "stalled",
    "time_bound",
    "time_range",
    "verify",
    "verify_and_record",
]
