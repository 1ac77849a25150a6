"""Layer 6: the audit trail. Events are written with each change; one sealer hash-chains them."""

from __future__ import annotations

from signoff.audit.chain import GENESIS, event_hash
from signoff.audit.records import EXPORTS, case_history, csv_lines, jsonl_lines, sealed_events, time_bound
from signoff.audit.service import Breach, VerifyReport, record, seal, verify

__all__ = [
    "EXPORTS",
    "GENESIS",
    "Breach",
    "VerifyReport",
    "case_history",
    "csv_lines",
    "event_hash",
    "jsonl_lines",
    "record",
    "seal",
    "sealed_events",
    "time_bound",
    "verify",
]
