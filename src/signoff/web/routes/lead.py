"""The lead's review floor: who works what, assigning a task to one reviewer, lifting a gold pause, checking and
resolving label conflicts, the webhook delivery log. Its forms
follow Post/Redirect/Get; a refused form shows the floor again with the error and what was typed."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from signoff import users
from signoff.audit import webhooks
from signoff.config import Flow
from signoff.domain import User
from signoff.errors import InvalidInput, NotFound, Problem, SignoffError, status_of
from signoff.learning import labels
from signoff.review import leads
from signoff.review.floor import Floor, floor
from signoff.web.dependencies import Site, Web, page_form, page_user
from signoff.web.views import sentence

router = APIRouter()
CONFLICTS_SHOWN = 50
DELIVERIES_SHOWN = 20


def done_message(
    done: Mapping[str, str], found: Floor, queues: set[str], flows: Mapping[str, tuple[str, ...]] | None = None
) -> str | None:
    """The status line after a lead's change (Post/Redirect/Get), built from known parts only: a crafted link
    cannot put words of its own on the page."""
    names = {person.name for person in found.reviewers}
    task, reviewer = done.get("task", ""), done.get("reviewer", "")
    match done.get("done"):
        case "assigned" if task.isdigit() and reviewer in names:
            return f"Task {task} is assigned to {reviewer}: only {reviewer} can claim it now."
        case "cleared" if task.isdigit():
            return f"Task {task} is no longer assigned: anyone who may take it can claim it."
        case "lifted" if reviewer in names and f"{done.get('flow')}/{done.get('queue')}" in queues:
            return f"The gold pause of {reviewer} on {done.get('flow')}/{done.get('queue')} is lifted."
        case "checked" if done.get("flow") in (flows or {}) and done.get("open", "").isdigit():
            return f"Labels of {done.get('flow')} checked; open conflicts: {done.get('open')}."
        case "resolved" if done.get("conflict", "").isdigit() and done.get("label") in (flows or {}).get(
            done.get("flow", ""), ()
        ):
            return f"Conflict {done.get('conflict')} resolved: {done.get('label')} wins."
    return None


def label_flows(site: Site, user: User) -> dict[str, tuple[str, ...]]:
    """The flows whose labels this lead checks and resolves here, with their labels."""
    return {
        name: runtime.flow.labels
        for name, runtime in site.runtimes.items()
        if users.may(user, "assign", name) and users.may(user, "resolve_labels", name)
    }


def lead_page(
    site: Site,
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
    found = floor(site.db, site.project, user)
    status = 200 if error is None else status_of(error)[0]
    typed = dict(values or {"task": asked if asked.isdigit() else "", "reviewer": ""})
    queues = {f"{name}/{queue}" for name, runtime in site.runtimes.items() for queue in runtime.flow.queues}
    flows = label_flows(site, user)
    conflicts = labels.conflicts(site.db, list(flows), status="open", limit=CONFLICTS_SHOWN) if flows else []
    shown = site.project.webhooks and users.may_everywhere(user, "assign")  # webhooks carry every flow's events
    return site.views.render(
        request,
        "lead.html",
        status,
        user=user,
        csrf=csrf,
        title="Review floor",
        floor=found,
        message=done_message(done or {}, found, queues, flows),
        error=None if error is None else sentence(error.message),
        values=typed,
        label_flows=flows,
        conflicts=conflicts,
        conflicts_shown=CONFLICTS_SHOWN,
        deliveries=webhooks.deliveries(site.db, limit=DELIVERIES_SHOWN) if shown else None,
        deliveries_shown=DELIVERIES_SHOWN,
    )


@router.get("/lead")
def lead(request: Request, site: Web) -> Response:
    user, csrf = page_user(site, request, "assign")
    query = request.query_params
    asked = "" if "done" in query else query.get("task", "")  # ?task= from a row's Assign link
    return lead_page(site, request, user, csrf, done=dict(query), asked=asked)


@router.post("/lead/assign")
async def lead_assign(request: Request, site: Web) -> Response:
    user, csrf, form = await page_form(site, request, "assign")
    raw, reviewer = form.get("task", "").strip(), form.get("reviewer", "").strip() or None
    try:
        if not raw.isdigit() or len(raw) > 18:
            raise InvalidInput([Problem("task", "give the task's id, a whole number")], "no task to assign")
        await run_in_threadpool(leads.assign, site.db, site.project, user, int(raw), reviewer)
    except SignoffError as error:
        values = {"task": raw, "reviewer": reviewer or ""}
        return await run_in_threadpool(lead_page, site, request, user, csrf, error=error, values=values)
    done = {"done": "assigned" if reviewer else "cleared", "task": raw, "reviewer": reviewer or ""}
    return RedirectResponse(f"/lead?{urlencode(done)}#status", status_code=303)


@router.post("/lead/pauses/lift")
async def lead_lift_pause(request: Request, site: Web) -> Response:
    user, csrf, form = await page_form(site, request, "assign")
    pause = {key: form.get(key, "").strip() for key in ("reviewer", "flow", "queue")}
    try:
        await run_in_threadpool(leads.lift_pause, site.db, user, *pause.values())
    except SignoffError as error:
        return await run_in_threadpool(lead_page, site, request, user, csrf, error=error)
    return RedirectResponse(f"/lead?{urlencode({'done': 'lifted', **pause})}#status", status_code=303)


def _label_flow(site: Site, user: User, name: str) -> Flow:
    """A flow whose labels this lead may check and resolve; any other is as unknown as one that does not exist."""
    if name not in label_flows(site, user):
        raise NotFound("flow", name)
    return site.project.flows[name]


@router.post("/lead/labels/check")
async def lead_check_labels(request: Request, site: Web) -> Response:
    user, csrf, form = await page_form(site, request, "assign")
    flow = form.get("flow", "").strip()
    try:
        report = await run_in_threadpool(lambda: labels.check(site.db, _label_flow(site, user, flow), user.name))
    except SignoffError as error:
        return await run_in_threadpool(lead_page, site, request, user, csrf, error=error)
    done = {"done": "checked", "flow": flow, "open": str(len(report.open))}
    return RedirectResponse(f"/lead?{urlencode(done)}#label-conflicts", status_code=303)


@router.post("/lead/labels/resolve")
async def lead_resolve_label(request: Request, site: Web) -> Response:
    user, csrf, form = await page_form(site, request, "assign")
    flow, raw = form.get("flow", "").strip(), form.get("conflict", "").strip()
    label, reason = form.get("label", "").strip(), form.get("reason", "")
    try:
        if not raw.isdigit() or len(raw) > 18:
            raise InvalidInput(
                [Problem("conflict", "give the conflict's id, a whole number")], "no conflict to resolve"
            )
        await run_in_threadpool(
            lambda: labels.resolve(site.db, _label_flow(site, user, flow), int(raw), label, reason, user.name)
        )
    except SignoffError as error:
        return await run_in_threadpool(lead_page, site, request, user, csrf, error=error)
    done = {"done": "resolved", "flow": flow, "conflict": raw, "label": label}
    return RedirectResponse(f"/lead?{urlencode(done)}#label-conflicts", status_code=303)
