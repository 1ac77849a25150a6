"""Who is asking, and may they: the web UI's sessions, the user behind a page or a page-script request, and the
CSRF check of every POST (a hidden form field, or the ``X-CSRF-Token`` header on the page script's requests).

A request the page cannot serve is halted: ``Halt`` carries the response to send instead (the login page, the
error page, or the page script's JSON error), and the handler ``mount`` adds sends it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qs, quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from signoff import users
from signoff.config import Project, environment
from signoff.database import Database
from signoff.domain import User
from signoff.errors import Forbidden, SignoffError, Unauthenticated
from signoff.intake import FlowRuntime
from signoff.text import require
from signoff.web import security
from signoff.web.dashboard import Dashboard
from signoff.web.logins import Logins
from signoff.web.views import Views, json_error, secure
from signoff.web.workspace import Workspace

DEFAULT_UNDO_SECONDS = 4.0


class CsrfRefused(Forbidden):
    """The request's CSRF token is missing or wrong, so it was refused."""

    def __init__(self) -> None:
        SignoffError.__init__(self)
        self.role, self.allowed = "", ()


class Halt(Exception):  # not an error: a response to send instead of the handler's
    """Stop handling the request and send ``response``."""

    def __init__(self, response: Response) -> None:
        self.response = response
        super().__init__("halt")


@dataclass(frozen=True)
class Site:
    """What the web UI's routes share in one server: the project, the database and the parts that keep state."""

    project: Project
    db: Database
    workspace: Workspace
    dashboard: Dashboard
    logins: Logins
    views: Views
    undo_seconds: float

    @classmethod
    def create(cls, project: Project, db: Database, runtimes: Mapping[str, FlowRuntime]) -> Site:
        undo = undo_seconds()  # a bad setting stops the server before anything starts
        return cls(
            project,
            db,
            Workspace(project, db, runtimes),
            Dashboard(project, db),
            Logins.from_environment(db),
            Views(),
            undo,
        )

    @property
    def runtimes(self) -> Mapping[str, FlowRuntime]:
        return self.workspace.runtimes


def undo_seconds() -> float:
    return environment.number("SIGNOFF_UI_UNDO_SECONDS", DEFAULT_UNDO_SECONDS, lowest=0, highest=60)


async def _site(request: Request) -> Site:  # async: read inline, no thread for a lookup
    site: Site = request.app.state.signoff_web
    return site


Web = Annotated[Site, Depends(_site)]


def session(site: Site, request: Request) -> tuple[User, str] | None:
    """The user of the request's session cookie and the session's CSRF token, or None."""
    cookie = request.cookies.get(security.cookie_name(security.SESSION_COOKIE, secure(request)))
    return users.session_user(site.db, cookie)


def page_user(site: Site, request: Request, action: users.Action | None) -> tuple[User, str]:
    """The logged-in user allowed to open this page, or a halt: to the login page, or 403."""
    found = session(site, request)
    if found is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise Halt(RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303))
    user, csrf = found
    if action is not None and not users.may(user, action):
        allowed = ", ".join(r.value for r in users.PERMISSIONS[action])  # on any flow
        message = f"This page is for these roles: {allowed}. You are signed in as {user.name} ({user.describe()})."
        raise Halt(site.views.error_page(request, user, csrf, 403, "Not for your role", message))
    return user, csrf


def script_user(site: Site, request: Request, action: users.Action) -> User:
    """The user behind a page script's request: a live session, the right CSRF header, the right role."""
    found = session(site, request)
    if found is None:
        raise Halt(json_error(Unauthenticated("your session has ended; log in again (your page is kept)")))
    user, csrf = found
    if not security.tokens_match(csrf, request.headers.get(security.CSRF_HEADER)):
        raise Halt(json_error(CsrfRefused()))
    try:
        users.require(user, action)
    except Forbidden as error:
        raise Halt(json_error(error)) from None
    return user


def _reviewer(request: Request) -> User:
    site: Site = request.app.state.signoff_web
    return script_user(site, request, "review")


Reviewer = Annotated[User, Depends(_reviewer)]


async def page_form(site: Site, request: Request, action: users.Action) -> tuple[User, str, dict[str, str]]:
    """A page form's user, CSRF token and fields, once the user may do ``action`` and the form carries their
    token; a halt (login, 403, or the refused-form page) otherwise."""
    form = await read_form(request)
    user, csrf = await run_in_threadpool(page_user, site, request, action)
    if not security.tokens_match(csrf, form.get(security.CSRF_FIELD)):
        raise Halt(csrf_refused(site, request, user))
    return user, csrf, form


def csrf_refused(site: Site, request: Request, user: User | None = None) -> HTMLResponse:
    message = CsrfRefused().message + " Go back, reload the page and try again."
    return site.views.error_page(request, user, None, 403, "Form refused", message)


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form body, first value of each field; refused (422) if a field holds text the policy refuses."""
    body = await request.body()
    if len(body) > 64 * 1024:
        return {}
    parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=20)
    form = {key: values[0] for key, values in parsed.items()}
    require(form, name=False)
    return form


def safe_next_or_empty(target: str | None) -> str:
    return security.safe_next(target) or ""
