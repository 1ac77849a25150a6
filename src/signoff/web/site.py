"""The web UI's routes: login, the review workspace, and the lead, model-owner and auditor pages.

Every state change goes through the same services as the REST API (``signoff.review``, ``signoff.users``), so it
is fenced and audited exactly as there. Pages need a session cookie; every POST needs the session's CSRF token
(a hidden form field, or the ``X-CSRF-Token`` header on the page script's requests).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, StrictUndefined
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from signoff import __version__, audit, review, users
from signoff.config import Project
from signoff.domain import TaskId, User
from signoff.errors import Conflict, Forbidden, InvalidInput, LimitReached, NotFound, SignoffError, Unauthenticated
from signoff.intake import FlowRuntime
from signoff.review import queues as review_queues
from signoff.review.service import MAX_COMMENT, MAX_REASON, Claim
from signoff.store.database import Database
from signoff.web import format as fmt
from signoff.web import security
from signoff.web.workspace import Workspace

STATIC = Path(__file__).parent / "static"
DEFAULT_UNDO_SECONDS = 4.0

PAGES: list[tuple[str, str, users.Action]] = [  # (path, title, the permission it needs)
    ("/review", "Review", "review"),
    ("/lead", "Review floor", "assign"),
    ("/owner", "Flows and models", "read_metrics"),
    ("/audit", "Audit", "audit"),
]


class CsrfRefused(SignoffError):
    """The request's CSRF token is missing or wrong, so it was refused."""


class Halt(Exception):  # not an error: a response to send instead of the handler's
    """Stop handling the request and send ``response``."""

    def __init__(self, response: Response) -> None:
        self.response = response
        super().__init__("halt")


class LeaseIn(BaseModel):
    token: int


class SubmitIn(BaseModel):
    token: int
    label: str = Field(max_length=100)
    comment: str = Field(default="", max_length=MAX_COMMENT)
    next: bool = True


class SkipIn(BaseModel):
    token: int
    reason: str = Field(max_length=MAX_REASON)
    next: bool = True


def _undo_seconds() -> float:
    raw = os.environ.get("SIGNOFF_UI_UNDO_SECONDS")
    if raw is None:
        return DEFAULT_UNDO_SECONDS
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"SIGNOFF_UI_UNDO_SECONDS must be a number of seconds, got {raw!r}") from None
    if not 0 <= value <= 60:
        raise SystemExit(f"SIGNOFF_UI_UNDO_SECONDS must be between 0 and 60, got {raw!r}")
    return value


EXPORTS = {
    "csv": ("text/csv; charset=utf-8", audit.csv_lines),
    "jsonl": ("application/x-ndjson", audit.jsonl_lines),
}

_STATUS: list[tuple[type[SignoffError], int]] = [
    (InvalidInput, 422),
    (NotFound, 404),
    (Conflict, 409),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (CsrfRefused, 403),
    (LimitReached, 429),
]


def _json_error(error: SignoffError) -> JSONResponse:
    status = next((code for kind, code in _STATUS if isinstance(error, kind)), 500)
    return _json({"error": {"status": status, "message": error.message}}, status)


def _json(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(jsonable_encoder(payload), status_code=status, headers=dict(headers or {}))


def mount(app: FastAPI, project: Project, db: Database, runtimes: Mapping[str, FlowRuntime]) -> None:
    """Add the web UI to ``app``: its routes, its static files and the handler that sends halted responses."""
    site = Site(project, db, runtimes, _undo_seconds())
    app.state.signoff_web = site
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(site.router())

    async def _halt(_request: Request, halt: Exception) -> Response:
        assert isinstance(halt, Halt)
        return halt.response

    app.add_exception_handler(Halt, _halt)


def _reviewer(request: Request) -> User:
    site: Site = request.app.state.signoff_web
    return site.script_user(request, "review")


Reviewer = Annotated[User, Depends(_reviewer)]


class Site:
    def __init__(
        self, project: Project, db: Database, runtimes: Mapping[str, FlowRuntime], undo_seconds: float
    ) -> None:
        self.project = project
        self.db = db
        self.workspace = Workspace(project, db, runtimes)
        self.undo_seconds = undo_seconds
        self.templates = Environment(
            loader=PackageLoader("signoff.web", "templates"),
            autoescape=True,  # every value is escaped unless a template says otherwise (none does)
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.globals.update(fmt=fmt, version=__version__)

    # ---- rendering and sessions -------------------------------------------------------------------------------

    def render(self, request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        user: User | None = values.pop("user", None)
        csrf: str | None = values.pop("csrf", None)
        nav = [(path, title) for path, title, action in PAGES if user is not None and users.may(user, action)]
        html = self.templates.get_template(template).render(
            user=user, csrf=csrf, nav=nav, path=request.url.path, **values
        )
        return HTMLResponse(html, status_code=status, headers=security.SECURITY_HEADERS)

    def fragment(self, name: str, **values: Any) -> str:
        return self.templates.get_template(name).render(**values)

    @staticmethod
    def secure(request: Request) -> bool:
        return request.url.scheme == "https"

    def session(self, request: Request) -> tuple[User, str] | None:
        cookie = request.cookies.get(security.cookie_name(security.SESSION_COOKIE, self.secure(request)))
        return users.session_user(self.db, cookie)

    def page_user(self, request: Request, action: users.Action | None) -> tuple[User, str]:
        """The logged-in user allowed to open this page, or a halt: to the login page, or 403."""
        found = self.session(request)
        if found is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise Halt(RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303))
        user, csrf = found
        if action is not None and not users.may(user, action):
            allowed = ", ".join(r.value for r in users.PERMISSIONS[action])
            raise Halt(
                self.render(
                    request,
                    "error.html",
                    403,
                    user=user,
                    csrf=csrf,
                    title="Not for your role",
                    message=f"This page is for these roles: {allowed}. You are signed in as {user.name} "
                    f"({user.role.value}).",
                )
            )
        return user, csrf

    def script_user(self, request: Request, action: users.Action) -> User:
        """The user behind a page script's request: a live session, the right CSRF header, the right role."""
        found = self.session(request)
        if found is None:
            raise Halt(_json_error(Unauthenticated("your session has ended; log in again (your page is kept)")))
        user, csrf = found
        if not security.tokens_match(csrf, request.headers.get(security.CSRF_HEADER)):
            raise Halt(_json_error(CsrfRefused()))
        if not users.may(user, action):
            raise Halt(_json_error(Forbidden(user.role.value, tuple(r.value for r in users.PERMISSIONS[action]))))
        return user

    def csrf_refused(self, request: Request, user: User | None = None) -> HTMLResponse:
        return self.render(
            request,
            "error.html",
            403,
            user=user,
            title="Form refused",
            message=CsrfRefused().message + " Go back, reload the page and try again.",
        )

    # ---- the task views ---------------------------------------------------------------------------------------

    def next_payload(self, user: User, marks: dict[str, float]) -> dict[str, Any]:
        """Claim the next task for ``user`` and render it (or the empty queue)."""
        with mark(marks, "claim"):
            claim = review.claim(self.db, self.project, user)
        with mark(marks, "render"):
            return self.task_payload(claim)

    def task_payload(self, claim: Claim | None) -> dict[str, Any]:
        if claim is None:
            return {"task": None, "html": self.fragment("_empty.html")}
        view = self.workspace.view(claim)
        return {
            "task": {**view["task"], "labels": [label["name"] for label in view["labels"]]},
            "html": self.fragment("_task.html", **view),
        }

    # ---- routes -----------------------------------------------------------------------------------------------

    def router(self) -> APIRouter:  # one place lists every page
        router = APIRouter(include_in_schema=False)
        site = self

        @router.get("/")
        def home(request: Request) -> Response:
            user, _ = site.page_user(request, None)
            return RedirectResponse(security.LANDING[user.role], status_code=303)

        @router.get("/login")
        def login_page(request: Request, next: str | None = None) -> Response:
            return site.login_form(request, safe_next_or_empty(next))

        @router.post("/login")
        async def login(request: Request) -> Response:
            form = await _form(request)
            target = safe_next_or_empty(form.get("next"))
            cookie = request.cookies.get(security.cookie_name(security.LOGIN_COOKIE, site.secure(request)))
            if not security.tokens_match(cookie, form.get(security.CSRF_FIELD)):
                return site.csrf_refused(request)
            name, password = form.get("name", "").strip(), form.get("password", "")
            source = request.client.host if request.client else ""
            try:
                session = await run_in_threadpool(users.login, site.db, name, password, source=source)
            except Unauthenticated:
                return site.login_form(request, target, name=name, error="Unknown user or wrong password.", status=401)
            response = RedirectResponse(target or security.LANDING[session.user.role], status_code=303)
            response.set_cookie(
                security.cookie_name(security.SESSION_COOKIE, site.secure(request)),
                session.session_id,
                max_age=int(users.SESSION_TTL.total_seconds()),
                path="/",
                secure=site.secure(request),
                httponly=True,
                samesite="lax",
            )
            response.delete_cookie(
                security.cookie_name(security.LOGIN_COOKIE, site.secure(request)),
                path="/",
                secure=site.secure(request),
                httponly=True,
                samesite="lax",
            )
            return response

        @router.post("/logout")
        async def logout(request: Request) -> Response:
            form = await _form(request)
            found = await run_in_threadpool(site.session, request)
            name = security.cookie_name(security.SESSION_COOKIE, site.secure(request))
            if found is not None:
                if not security.tokens_match(found[1], form.get(security.CSRF_FIELD)):
                    return site.csrf_refused(request, found[0])
                await run_in_threadpool(users.logout, site.db, request.cookies.get(name, ""))
            response = RedirectResponse("/login", status_code=303)
            response.delete_cookie(name, path="/", secure=site.secure(request), httponly=True, samesite="lax")
            return response

        @router.get("/account")
        def account(request: Request) -> Response:
            user, csrf = site.page_user(request, None)
            return site.render(request, "account.html", user=user, csrf=csrf, title="Your account")

        @router.get("/review")
        def review_page(request: Request) -> Response:
            user, csrf = site.page_user(request, "review")
            return site.render(
                request, "review.html", user=user, csrf=csrf, title="Review", undo_seconds=site.undo_seconds
            )

        @router.post("/review/next")
        def claim_next(request: Request, user: Reviewer) -> Response:
            return timed(lambda marks: site.next_payload(user, marks))

        @router.post("/review/tasks/{task_id}/submit")
        def submit(task_id: int, body: SubmitIn, user: Reviewer) -> Response:
            def run(marks: dict[str, float]) -> dict[str, Any]:
                with mark(marks, "submit"):
                    outcome = review.submit(
                        site.db, site.project, user, TaskId(task_id), body.token, body.label, body.comment
                    )
                return {"submitted": asdict(outcome), "next": site.next_payload(user, marks) if body.next else None}

            return timed(run)

        @router.post("/review/tasks/{task_id}/skip")
        def skip(task_id: int, body: SkipIn, user: Reviewer) -> Response:
            def run(marks: dict[str, float]) -> dict[str, Any]:
                with mark(marks, "skip"):
                    review.skip(site.db, user, TaskId(task_id), body.token, body.reason)
                return {"skipped": task_id, "next": site.next_payload(user, marks) if body.next else None}

            return timed(run)

        @router.post("/review/tasks/{task_id}/heartbeat")
        def heartbeat(task_id: int, body: LeaseIn, user: Reviewer) -> Response:
            return timed(lambda _: {"expires_at": review.heartbeat(site.db, user, TaskId(task_id), body.token)})

        @router.post("/review/tasks/{task_id}/release")
        def release(task_id: int, body: LeaseIn, user: Reviewer) -> Response:
            def run(_: dict[str, float]) -> dict[str, Any]:
                review.release(site.db, user, TaskId(task_id), body.token)
                return {"released": task_id}

            return timed(run)

        @router.get("/lead")
        def lead(request: Request) -> Response:
            user, csrf = site.page_user(request, "assign")
            found = review_queues.overview(site.db)
            return site.render(request, "lead.html", user=user, csrf=csrf, title="Review floor", overview=found)

        @router.get("/owner")
        def owner(request: Request) -> Response:
            user, csrf = site.page_user(request, "read_metrics")
            flows = [
                {
                    "name": name,
                    "description": runtime.flow.description,
                    "labels": runtime.flow.labels,
                    "model_version": runtime.model.version,
                    "model_kind": runtime.model.kind,
                    "policy_version": runtime.policy.version,
                    "rules": [(rule.name, rule.kind) for rule in runtime.flow.policy],
                    "queues": [
                        (queue, spec.role, spec.lease_ttl, spec.sla) for queue, spec in runtime.flow.queues.items()
                    ],
                    "audit_rate": runtime.flow.audit.rate,
                }
                for name, runtime in site.workspace.runtimes.items()
            ]
            return site.render(request, "owner.html", user=user, csrf=csrf, title="Flows and models", flows=flows)

        @router.get("/audit")
        def audit_page(request: Request, case: str | None = None) -> Response:
            user, csrf = site.page_user(request, "audit")
            report = audit.verify(site.db)
            asked = (case or "").strip()
            record = audit.case_history(site.db, int(asked)) if asked.isdigit() and len(asked) < 19 else None
            return site.render(
                request,
                "audit.html",
                user=user,
                csrf=csrf,
                title="Audit",
                report=report,
                asked=asked,
                record=record,
            )

        @router.get("/audit/cases/{case_id}.json")
        def audit_case_file(request: Request, case_id: int) -> Response:
            site.page_user(request, "audit")
            record = audit.case_history(site.db, case_id)
            if record is None:
                return _json_error(NotFound("case", case_id))
            disposition = {"Content-Disposition": f'attachment; filename="case-{case_id}.json"'}
            return _json(record, headers={**security.SECURITY_HEADERS, **disposition})

        @router.get("/audit/events.{kind}")
        def audit_events_file(
            request: Request, kind: str, since: str | None = None, until: str | None = None
        ) -> Response:
            site.page_user(request, "audit")
            if kind not in EXPORTS:
                return _json_error(NotFound("export format", kind))
            try:
                start, end = audit.time_bound(since, "since"), audit.time_bound(until, "until")
            except InvalidInput as error:
                return _json_error(error)
            media, lines = EXPORTS[kind]
            headers = {**security.SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="audit.{kind}"'}
            return StreamingResponse(lines(audit.sealed_events(site.db, start, end)), media_type=media, headers=headers)

        return router

    def login_form(
        self, request: Request, target: str, *, name: str = "", error: str | None = None, status: int = 200
    ) -> HTMLResponse:
        token = security.new_login_token()
        response = self.render(
            request, "login.html", status, title="Log in", login_token=token, next=target, username=name, error=error
        )
        response.set_cookie(
            security.cookie_name(security.LOGIN_COOKIE, self.secure(request)),
            token,
            max_age=3600,
            path="/",
            secure=self.secure(request),
            httponly=True,
            samesite="lax",
        )
        return response


def safe_next_or_empty(target: str | None) -> str:
    return security.safe_next(target) or ""


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form body, first value of each field."""
    body = await request.body()
    if len(body) > 64 * 1024:
        return {}
    parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=20)
    return {key: values[0] for key, values in parsed.items()}


@contextmanager
def mark(marks: dict[str, float], name: str) -> Iterator[None]:
    """Add the time the block takes, in ms, to ``marks[name]``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        marks[name] = marks.get(name, 0.0) + (time.perf_counter() - started) * 1000


def timed(run: Callable[[dict[str, float]], Any]) -> Response:
    """Run a page-script action. Its server time goes in a Server-Timing header (the whole as ``app``, and the
    parts the action marked); errors become JSON with a message the page shows."""
    marks: dict[str, float] = {}
    started = time.perf_counter()
    try:
        payload = run(marks)
    except SignoffError as error:
        return _json_error(error)
    marks["app"] = (time.perf_counter() - started) * 1000
    timing = ", ".join(f"{name};dur={ms:.2f}" for name, ms in marks.items())
    return _json(payload, headers={"Server-Timing": timing, **security.SECURITY_HEADERS})


__all__ = ["mount"]
