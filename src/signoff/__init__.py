"""Signoff: human judgment inside automated machine-learning decisions."""

from __future__ import annotations

__version__ = "0.1.0"
