"""A Python client of Signoff's HTTP API, for services that submit cases and read decisions, and for review front
ends of their own: ``Client`` (blocking) and ``AsyncClient`` (asyncio), typed with the API's own response models,
raising the API's errors as the exceptions of ``signoff.client.errors``.

It imports the API's bodies (``signoff.api.schemas``) and httpx, never the server: importing it costs no
database driver, no web framework and no model.
"""

from __future__ import annotations

from signoff.client.aio import AsyncClient
from signoff.client.core import Retry
from signoff.client.errors import (
    ApiError,
    Conflict,
    DecisionTimeout,
    Forbidden,
    InvalidInput,
    LimitReached,
    ModelError,
    NotFound,
    ServerError,
    TooLarge,
    Unauthenticated,
    Unavailable,
    Unreachable,
)
from signoff.client.sync import Client

__all__ = [
    "ApiError",
    "AsyncClient",
    "Client",
    "Conflict",
    "DecisionTimeout",
    "Forbidden",
    "InvalidInput",
    "LimitReached",
    "ModelError",
    "NotFound",
    "Retry",
    "ServerError",
    "TooLarge",
    "Unauthenticated",
    "Unavailable",
    "Unreachable",
]
