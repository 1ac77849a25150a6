"""The web UI's pages, one module per group: login and account, the review workspace (and the page script's
JSON), the lead's review floor, the model owner's pages, and the auditor's."""

from __future__ import annotations

from fastapi import APIRouter

from signoff.web.routes import account, audit, lead, owner, review


def router() -> APIRouter:
    """Every page of the UI, kept out of the API's OpenAPI document."""
    pages = APIRouter(include_in_schema=False)
    for group in (account, review, lead, owner, audit):
        pages.include_router(group.router)
    return pages


__all__ = ["router"]
