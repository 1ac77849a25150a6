"""For browser tests: the running site, logging in, screenshots."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from helpers.builders import flow_document
from signoff.config import Project
from signoff.domain import Role
from signoff.store.database import Database

ROOT = Path(__file__).resolve().parents[2]
# Screenshots go to the git-ignored build/screenshots/ unless $SIGNOFF_SCREENSHOTS names another folder (relative to
# the repository): `make screenshots` points it at docs/screenshots/ to refresh the ones the docs show, on purpose.
SCREENSHOTS = ROOT / os.environ.get("SIGNOFF_SCREENSHOTS", "build/screenshots")
VIEWPORT = {"width": 1280, "height": 860}
ROLES = {
    "admin": Role.ADMIN,
    "alice": Role.REVIEWER,
    "bob": Role.REVIEWER,
    "lena": Role.LEAD,
    "owen": Role.OWNER,
    "audra": Role.AUDITOR,
    "ingest": Role.INTAKE,
}


def password_of(name: str) -> str:
    return f"{name}-correct-horse-battery"


@dataclass
class Site:
    """A running server on its own project, with one user per role and an API token for intake."""

    url: str
    project: Project
    db: Database
    intake_token: str
    ids: dict[str, int] = field(default_factory=dict)

    def submit(self, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
        response = httpx.post(
            f"{self.url}/api/v1/flows/test-flow/cases",
            json={"cases": cases},
            headers={"Authorization": f"Bearer {self.intake_token}"},
            timeout=30,
        )
        assert response.status_code in (200, 201), response.text
        result: list[dict[str, Any]] = response.json()["cases"]
        return result


def web_flow(**overrides: Any) -> dict[str, Any]:
    """The test flow with a free-text field, a long lease and everything between 0.2 and 0.8 sent to review."""
    fields = {
        "score": {"type": "number", "min": 0, "max": 1},
        "amount": {"type": "number", "min": 0, "required": False},
        "group": {"type": "category", "values": ["a", "b"]},
        "note": {"type": "string", "required": False},
    }
    policy = [{"name": "uncertain", "kind": "band", "label": "bad", "low": 0.2, "high": 0.8, "review": "inside"}]
    document = flow_document(fields=fields, policy=policy, queues={"default": {"role": "reviewer", "lease_ttl": 120}})
    document.update(overrides)
    return document


def login(page: Any, site: Site, name: str, target: str = "/") -> None:
    page.goto(f"{site.url}/login?next={target}" if target != "/" else f"{site.url}/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password_of(name))
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def shot(page: Any, name: str, *, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page, animations="disabled")


def heading(page: Any) -> str:
    text: str = page.locator("#task-slot h1").first.inner_text()
    return re.sub(r"\s+", " ", text)


def no_script_ran(page: Any, trapped: Any) -> None:
    """Nothing injected ran in a page of the ``trapped`` context (tests/browser/conftest.py)."""
    assert page.evaluate("window.__xss") == 0
    assert trapped.dialogs == []
