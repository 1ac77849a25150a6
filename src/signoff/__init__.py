"""Signoff: human judgment inside automated machine-learning decisions."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from signoff.client import AsyncClient, Client


def __getattr__(name: str) -> Any:
    """``signoff.Client`` and ``signoff.AsyncClient``, imported when first asked for: ``signoff --help`` does not
    pay for httpx and the API's bodies."""
    if name in {"Client", "AsyncClient"}:
        return getattr(importlib.import_module("signoff.client"), name)
    raise AttributeError(f"module 'signoff' has no attribute {name!r}")


__all__ = ["AsyncClient", "Client", "__version__"]
