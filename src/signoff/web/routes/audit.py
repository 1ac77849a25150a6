"""The auditor's pages: a case's whole history, the check of the audit chain, and the exports."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from signoff import audit, users
from signoff.domain import Id
from signoff.errors import Forbidden, InvalidInput, NotFound
from signoff.web import security
from signoff.web.dependencies import Web, page_form, page_user
from signoff.web.views import json_body, json_error

router = APIRouter()


@router.get("/audit")
def audit_page(request: Request, site: Web, case: str | None = None) -> Response:
    user, csrf = page_user(site, request, "audit")
    asked = (case or "").strip()
    flows = users.scope(user, "audit")
    record = audit.case_history(site.db, int(asked), flows) if asked.isdigit() and len(asked) < 19 else None
    checkpoint = None
    if site.project.checkpoints is not None:
        from signoff.audit import transparency

        checkpoint = transparency.latest(site.db)
    return site.views.render(
        request,
        "audit.html",
        user=user,
        csrf=csrf,
        title="Audit",
        verification=audit.last_verification(site.db),
        checkpoints=site.project.checkpoints,
        checkpoint=checkpoint,
        asked=asked,
        record=record,
    )


@router.post("/audit/verify")
async def audit_verify(request: Request, site: Web) -> Response:
    user, _csrf, _form_fields = await page_form(site, request, "audit")
    check = None
    if site.project.checkpoints is not None:  # the signed Merkle checkpoints too, as the worker checks them
        from signoff.audit import transparency

        check = transparency.checker(site.project.checkpoints, site.db)
    await run_in_threadpool(audit.verify_and_record, site.db, user.name, check)
    return RedirectResponse("/audit#chain-title", status_code=303)


@router.get("/audit/cases/{case_id}.json")
def audit_case_file(request: Request, site: Web, case_id: Id) -> Response:
    user, _csrf = page_user(site, request, "audit")
    record = audit.case_history(site.db, case_id, users.scope(user, "audit"))
    if record is None:
        return json_error(NotFound("case", case_id))
    disposition = {"Content-Disposition": f'attachment; filename="case-{case_id}.json"'}
    return json_body(record, headers={**security.SECURITY_HEADERS, **disposition})


@router.get("/audit/events.{kind}")
def audit_events_file(
    request: Request, site: Web, kind: str, since: str | None = None, until: str | None = None
) -> Response:
    user, _csrf = page_user(site, request, "audit")
    try:
        users.require_everywhere(user, "audit")
    except Forbidden as error:
        return json_error(error)
    if kind not in audit.EXPORTS:
        return json_error(NotFound("export format", kind))
    try:
        start, end = audit.time_range(since, until)
    except InvalidInput as error:
        return json_error(error)
    media, lines = audit.EXPORTS[kind]
    headers = {**security.SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="audit.{kind}"'}
    return StreamingResponse(lines(audit.sealed_events(site.db, start, end)), media_type=media, headers=headers)
