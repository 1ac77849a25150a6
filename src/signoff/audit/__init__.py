"""Layer 6: the audit trail. Events are written with each change; one sealer hash-chains them."""

from __future__ import annotations

from signoff.audit.chain import GENESIS, event_hash
from signoff.audit.service import Breach, VerifyReport, record, seal, verify

__all__ = ["GENESIS", "Breach", "VerifyReport", "event_hash", "record", "seal", "verify"]
