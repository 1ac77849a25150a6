"""The web UI's routes: login, the review workspace, and the lead, model-owner and auditor pages.

Every state change goes through the same services as the REST API (``signoff.review``, ``signoff.users``), so it
is fenced and audited exactly as there. Pages need a session cookie; every POST needs the session's CSRF token
(a hidden form field, or the ``X-CSRF-Token`` header on the page script's requests).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlencode

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, StrictUndefined
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from signoff import __version__, audit, review, users
from signoff.config import Project
from signoff.domain import Id, LeaseToken, TaskId, User
from signoff.errors import (
    Forbidden,
    InvalidInput,
    LimitReached,
    NotFound,
    Problem,
    SignoffError,
    Unauthenticated,
    status_of,
)
from signoff.intake import FlowRuntime
from signoff.metrics.versions import flow_versions
from signoff.review import leads
from signoff.review.floor import Floor, floor
from signoff.review.service import MAX_COMMENT, MAX_REASON, Claim
from signoff.store.database import Database
from signoff.text import Name, Text, require
from signoff.web import format as fmt
from signoff.web import security
from signoff.web.dashboard import SVG_HEADERS, Dashboard, end_or_error, window_or_error
from signoff.web.logins import LoginBusy, Logins
from signoff.web.workspace import Workspace

STATIC = Path(__file__).parent / "static"
DEFAULT_UNDO_SECONDS = 4.0

PAGES: list[tuple[str, str, users.Action]] = [  # (path, title, the permission it needs)
    ("/review", "Review", "review"),
    ("/lead", "Review floor", "assign"),
    ("/owner", "Flows and models", "read_metrics"),
    ("/audit", "Audit", "audit"),
]


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


class WorkOn(BaseModel):
    """The queue a reviewer chose to work on (both None: every queue open to them)."""

    flow: Name | None = Field(default=None, max_length=63)
    queue: Name | None = Field(default=None, max_length=63)


class LeaseIn(BaseModel):
    token: LeaseToken


class SubmitIn(WorkOn):
    token: LeaseToken
    label: Name = Field(max_length=100)
    comment: Text = Field(default="", max_length=MAX_COMMENT)
    next: bool = True


class SkipIn(WorkOn):
    token: LeaseToken
    reason: Text = Field(max_length=MAX_REASON)
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


def _json_error(error: SignoffError) -> JSONResponse:
    status, _ = status_of(error)
    return _json({"error": {"status": status, "message": error.message}}, status)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _done_message(done: Mapping[str, str], found: Floor, queues: set[str]) -> str | None:
    """The status line after a lead's change (Post/Redirect/Get), built from known parts only: a crafted link
    cannot put words of its own on the page."""
    names = {person["name"] for person in found.reviewers}
    task, reviewer = done.get("task", ""), done.get("reviewer", "")
    match done.get("done"):
        case "assigned" if task.isdigit() and reviewer in names:
            return f"Task {task} is assigned to {reviewer}: only {reviewer} can claim it now."
        case "cleared" if task.isdigit():
            return f"Task {task} is no longer assigned: anyone who may take it can claim it."
        case "lifted" if reviewer in names and f"{done.get('flow')}/{done.get('queue')}" in queues:
            return f"The gold pause of {reviewer} on {done.get('flow')}/{done.get('queue')} is lifted."
    return None


def _json(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(jsonable_encoder(payload), status_code=status, headers=dict(headers or {}))


def mount(app: FastAPI, project: Project, db: Database, runtimes: Mapping[str, FlowRuntime]) -> None:
    """Add the web UI to ``app``: its routes, its static files and the handler that sends halted responses."""
    site = Site(project, db, runtimes, _undo_seconds())
    users.prepare_logins()
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
        self.dashboard = Dashboard(project, db)
        self.logins = Logins.from_environment(db)
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
            allowed = ", ".join(r.value for r in users.PERMISSIONS[action])  # on any flow
            raise Halt(
                self.render(
                    request,
                    "error.html",
                    403,
                    user=user,
                    csrf=csrf,
                    title="Not for your role",
                    message=f"This page is for these roles: {allowed}. You are signed in as {user.name} "
                    f"({user.describe()}).",
                )
            )
        return user, csrf

    def refuse(self, request: Request, user: User, csrf: str, status: int, title: str, message: str) -> Halt:
        """A halt that sends the error page, for a request the page cannot serve."""
        return Halt(self.render(request, "error.html", status, user=user, csrf=csrf, title=title, message=message))

    def owner_flow(self, request: Request, flow: str, window: str) -> tuple[User, str]:
        """The owner page's user, once the flow exists and the window is one of hour, day or week."""
        user, csrf = self.page_user(request, "read_metrics")
        if flow not in self.workspace.runtimes or not users.may(user, "read_metrics", flow):
            raise self.refuse(request, user, csrf, 404, "No such flow", f"This server runs no flow named {flow!r}.")
        try:
            window_or_error(window)
        except InvalidInput as error:
            raise self.refuse(request, user, csrf, 422, "Not a window", error.message) from None
        return user, csrf

    def script_user(self, request: Request, action: users.Action) -> User:
        """The user behind a page script's request: a live session, the right CSRF header, the right role."""
        found = self.session(request)
        if found is None:
            raise Halt(_json_error(Unauthenticated("your session has ended; log in again (your page is kept)")))
        user, csrf = found
        if not security.tokens_match(csrf, request.headers.get(security.CSRF_HEADER)):
            raise Halt(_json_error(CsrfRefused()))
        try:
            users.require(user, action)
        except Forbidden as error:
            raise Halt(_json_error(error)) from None
        return user

    def lead_page(
        self,
        request: Request,
        user: User,
        csrf: str,
        *,
        done: Mapping[str, str] | None = None,
        error: SignoffError | None = None,
        values: Mapping[str, str] | None = None,
        asked: str = "",
    ) -> HTMLResponse:
        """The review floor; after a refused form, with the error (and its status code) and what was typed."""
        found = floor(self.db, self.project, user)
        status = 200 if error is None else status_of(error)[0]
        typed = dict(values or {"task": asked if asked.isdigit() else "", "reviewer": ""})
        return self.render(
            request,
            "lead.html",
            status,
            user=user,
            csrf=csrf,
            title="Review floor",
            floor=found,
            message=_done_message(done or {}, found, self.queue_names()),
            error=None if error is None else _sentence(error.message),
            values=typed,
        )

    def queue_names(self) -> set[str]:
        return {f"{name}/{queue}" for name, runtime in self.workspace.runtimes.items() for queue in runtime.flow.queues}

    async def page_form(self, request: Request, action: users.Action) -> tuple[User, str, dict[str, str]]:
        """A page form's user, CSRF token and fields, once the user may do ``action`` and the form carries their
        token; a halt (login, 403, or the refused-form page) otherwise."""
        form = await _form(request)
        user, csrf = await run_in_threadpool(self.page_user, request, action)
        if not security.tokens_match(csrf, form.get(security.CSRF_FIELD)):
            raise Halt(self.csrf_refused(request, user))
        return user, csrf, form

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

    def check_work(self, user: User, work: WorkOn) -> None:
        """Refuse a chosen queue this user may not work, before anything is written."""
        if (work.flow, work.queue) != (None, None) and (work.flow, work.queue) not in review.workable_queues(
            self.project, user
        ):
            raise InvalidInput([Problem("queue", f"{work.flow}/{work.queue} is not a queue you may work on")])

    def next_payload(self, user: User, marks: dict[str, float], work: WorkOn) -> dict[str, Any]:
        """Claim the next task for ``user`` in the queue they chose (checked by ``check_work`` before anything was
        written), or in any, and render it (or the empty queue)."""
        with mark(marks, "claim"):
            claim = review.claim(self.db, self.project, user, flow=work.flow, queue=work.queue)
        with mark(marks, "render"):
            return self.task_payload(user, claim)

    def task_payload(self, user: User, claim: Claim | None) -> dict[str, Any]:
        if claim is None:
            return {"task": None, "html": self.fragment("_empty.html")}
        view = self.workspace.view(user, claim)
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
            try:
                form = await _form(request)
            except InvalidInput as refused:  # the login page says what is wrong, not a JSON body
                return site.login_form(
                    request, "", error=f"{refused.message[:1].upper()}{refused.message[1:]}.", status=422
                )
            target = safe_next_or_empty(form.get("next"))
            cookie = request.cookies.get(security.cookie_name(security.LOGIN_COOKIE, site.secure(request)))
            if not security.tokens_match(cookie, form.get(security.CSRF_FIELD)):
                return site.csrf_refused(request)
            name, password = form.get("name", "").strip(), form.get("password", "")
            source = request.client.host if request.client else ""
            try:
                session = await site.logins.login(name, password, source)
            except Unauthenticated:
                return site.login_form(request, target, name=name, error="Unknown user or wrong password.", status=401)
            except LimitReached as refused:  # throttled (429) or every hashing thread busy (503): try later
                status = 503 if isinstance(refused, LoginBusy) else 429
                page = site.login_form(
                    request,
                    target,
                    name=name,
                    error=f"{refused.message[:1].upper()}{refused.message[1:]}.",
                    status=status,
                )
                page.headers["Retry-After"] = str(max(1, math.ceil(refused.retry_after or 1)))
                return page
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
        def review_page(request: Request, queue: str = "") -> Response:
            user, csrf = site.page_user(request, "review")
            choices = [f"{flow}/{name}" for flow, name in review.workable_queues(site.project, user)]
            return site.render(
                request,
                "review.html",
                user=user,
                csrf=csrf,
                title="Review",
                undo_seconds=site.undo_seconds,
                choices=choices,
                chosen=queue if queue in choices else "",
                unknown=queue if queue and queue not in choices else "",
            )

        @router.post("/review/next")
        def claim_next(user: Reviewer, body: WorkOn | None = None) -> Response:
            work = body or WorkOn()

            def run(marks: dict[str, float]) -> dict[str, Any]:
                site.check_work(user, work)
                return site.next_payload(user, marks, work)

            return timed(run)

        @router.post("/review/tasks/{task_id}/submit")
        def submit(task_id: Id, body: SubmitIn, user: Reviewer) -> Response:
            def run(marks: dict[str, float]) -> dict[str, Any]:
                site.check_work(user, body)
                with mark(marks, "submit"):
                    outcome = review.submit(
                        site.db, site.project, user, TaskId(task_id), body.token, body.label, body.comment
                    )
                nxt = site.next_payload(user, marks, body) if body.next else None
                return {"submitted": asdict(outcome), "next": nxt}

            return timed(run)

        @router.post("/review/tasks/{task_id}/skip")
        def skip(task_id: Id, body: SkipIn, user: Reviewer) -> Response:
            def run(marks: dict[str, float]) -> dict[str, Any]:
                site.check_work(user, body)
                with mark(marks, "skip"):
                    review.skip(site.db, user, TaskId(task_id), body.token, body.reason)
                return {"skipped": task_id, "next": site.next_payload(user, marks, body) if body.next else None}

            return timed(run)

        @router.post("/review/tasks/{task_id}/heartbeat")
        def heartbeat(task_id: Id, body: LeaseIn, user: Reviewer) -> Response:
            return timed(lambda _: {"expires_at": review.heartbeat(site.db, user, TaskId(task_id), body.token)})

        @router.post("/review/tasks/{task_id}/release")
        def release(task_id: Id, body: LeaseIn, user: Reviewer) -> Response:
            def run(_: dict[str, float]) -> dict[str, Any]:
                review.release(site.db, user, TaskId(task_id), body.token)
                return {"released": task_id}

            return timed(run)

        @router.get("/lead")
        def lead(request: Request) -> Response:
            user, csrf = site.page_user(request, "assign")
            query = request.query_params
            asked = "" if "done" in query else query.get("task", "")  # ?task= from a row's Assign link
            return site.lead_page(request, user, csrf, done=dict(query), asked=asked)

        @router.post("/lead/assign")
        async def lead_assign(request: Request) -> Response:
            user, csrf, form = await site.page_form(request, "assign")
            raw, reviewer = form.get("task", "").strip(), form.get("reviewer", "").strip() or None
            try:
                if not raw.isdigit() or len(raw) > 18:
                    raise InvalidInput([Problem("task", "give the task's id, a whole number")], "no task to assign")
                await run_in_threadpool(leads.assign, site.db, site.project, user, int(raw), reviewer)
            except SignoffError as error:
                values = {"task": raw, "reviewer": reviewer or ""}
                return await run_in_threadpool(site.lead_page, request, user, csrf, error=error, values=values)
            done = {"done": "assigned" if reviewer else "cleared", "task": raw, "reviewer": reviewer or ""}
            return RedirectResponse(f"/lead?{urlencode(done)}#status", status_code=303)

        @router.post("/lead/pauses/lift")
        async def lead_lift_pause(request: Request) -> Response:
            user, csrf, form = await site.page_form(request, "assign")
            pause = {key: form.get(key, "").strip() for key in ("reviewer", "flow", "queue")}
            try:
                await run_in_threadpool(leads.lift_pause, site.db, user, *pause.values())
            except SignoffError as error:
                return await run_in_threadpool(site.lead_page, request, user, csrf, error=error)
            return RedirectResponse(f"/lead?{urlencode({'done': 'lifted', **pause})}#status", status_code=303)

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
                    "versions": flow_versions(site.db, name, runtime.model.version, runtime.policy.version),
                }
                for name, runtime in site.workspace.runtimes.items()
                if users.may(user, "read_metrics", name)
            ]
            return site.render(request, "owner.html", user=user, csrf=csrf, title="Flows and models", flows=flows)

        @router.get("/owner/flows/{flow}")
        def owner_dashboard(request: Request, flow: str, window: str = "day") -> Response:
            user, csrf = site.owner_flow(request, flow, window)
            values = site.dashboard.page(flow, window)
            return site.render(
                request, "dashboard.html", user=user, csrf=csrf, title=f"Metrics of {flow}", window=window, **values
            )

        @router.get("/owner/flows/{flow}/charts/{name}.svg")
        def owner_chart(
            request: Request, flow: str, name: str, window: str = "day", end: str | None = None
        ) -> Response:
            site.owner_flow(request, flow, window)
            try:
                svg = site.dashboard.chart(flow, window, end_or_error(end), name)
            except InvalidInput as error:
                return Response(error.message, 422, media_type="text/plain", headers=SVG_HEADERS)
            if svg is None:
                missing = f"no chart named {name[:40]!r} for these metrics"
                return Response(missing, 404, media_type="text/plain", headers=SVG_HEADERS)
            return Response(svg, media_type="image/svg+xml", headers=SVG_HEADERS)

        @router.get("/audit")
        def audit_page(request: Request, case: str | None = None) -> Response:
            user, csrf = site.page_user(request, "audit")
            asked = (case or "").strip()
            flows = users.scope(user, "audit")
            record = audit.case_history(site.db, int(asked), flows) if asked.isdigit() and len(asked) < 19 else None
            return site.render(
                request,
                "audit.html",
                user=user,
                csrf=csrf,
                title="Audit",
                verification=audit.last_verification(site.db),
                asked=asked,
                record=record,
            )

        @router.post("/audit/verify")
        async def audit_verify(request: Request) -> Response:
            user, _csrf, _form_fields = await site.page_form(request, "audit")
            await run_in_threadpool(audit.verify_and_record, site.db, user.name)
            return RedirectResponse("/audit#chain-title", status_code=303)

        @router.get("/audit/cases/{case_id}.json")
        def audit_case_file(request: Request, case_id: Id) -> Response:
            user, _csrf = site.page_user(request, "audit")
            record = audit.case_history(site.db, case_id, users.scope(user, "audit"))
            if record is None:
                return _json_error(NotFound("case", case_id))
            disposition = {"Content-Disposition": f'attachment; filename="case-{case_id}.json"'}
            return _json(record, headers={**security.SECURITY_HEADERS, **disposition})

        @router.get("/audit/events.{kind}")
        def audit_events_file(
            request: Request, kind: str, since: str | None = None, until: str | None = None
        ) -> Response:
            user, _csrf = site.page_user(request, "audit")
            try:
                users.require_everywhere(user, "audit")
            except Forbidden as error:
                return _json_error(error)
            if kind not in audit.EXPORTS:
                return _json_error(NotFound("export format", kind))
            try:
                start, end = audit.time_bound(since, "since"), audit.time_bound(until, "until")
            except InvalidInput as error:
                return _json_error(error)
            media, lines = audit.EXPORTS[kind]
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
    """An urlencoded form body, first value of each field; refused (422) if a field holds text the policy refuses."""
    body = await request.body()
    if len(body) > 64 * 1024:
        return {}
    parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=20)
    form = {key: values[0] for key, values in parsed.items()}
    require(form, name=False)
    return form


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
