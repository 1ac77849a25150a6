"""The web UI: login, the keyboard-driven review workspace, and pages for leads, model owners and auditors.

Server-rendered with Jinja2; the CSS and the one page script are written here and served by the app itself,
so the UI works offline. ``routes`` holds the pages, ``dependencies`` who is asking (sessions, CSRF),
``views`` what is sent (templates, the page script's JSON, cookies).

Every state change goes through the same services as the REST API (``signoff.review``, ``signoff.users``), so it
is fenced and audited exactly as there.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from signoff import users
from signoff.config import Project
from signoff.database import Database
from signoff.intake import FlowRuntime
from signoff.web import routes
from signoff.web.dependencies import Halt, Site

STATIC = Path(__file__).parent / "static"


def mount(app: FastAPI, project: Project, db: Database, runtimes: Mapping[str, FlowRuntime]) -> None:
    """Add the web UI to ``app``: its routes, its static files and the handler that sends halted responses."""
    app.state.signoff_web = Site.create(project, db, runtimes)
    users.prepare_logins()
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    icon = (STATIC / "favicon.svg").read_bytes()

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        """Where a browser looks for the icon of a page that names none (the JSON endpoints, /metrics)."""
        return Response(icon, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})

    app.include_router(routes.router())

    async def _halt(_request: Request, halt: Exception) -> Response:
        assert isinstance(halt, Halt)
        return halt.response

    app.add_exception_handler(Halt, _halt)


__all__ = ["mount"]
