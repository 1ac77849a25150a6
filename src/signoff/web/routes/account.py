"""Logging in and out, and the account page; ``/`` sends a user to the page of their role."""

from __future__ import annotations

import math

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from signoff import users
from signoff.errors import InvalidInput, LimitReached, Unauthenticated
from signoff.web import security
from signoff.web.dependencies import Web, csrf_refused, page_user, read_form, safe_next_or_empty, session
from signoff.web.logins import LoginBusy
from signoff.web.views import drop_cookie, secure, sentence, set_cookie

router = APIRouter()


@router.get("/")
def home(request: Request, site: Web) -> Response:
    user, _ = page_user(site, request, None)
    return RedirectResponse(security.LANDING[user.role], status_code=303)


@router.get("/login")
def login_page(request: Request, site: Web, next: str | None = None) -> Response:
    return site.views.login_form(request, safe_next_or_empty(next))


@router.post("/login")
async def login(request: Request, site: Web) -> Response:
    try:
        form = await read_form(request)
    except InvalidInput as refused:  # the login page says what is wrong, not a JSON body
        return site.views.login_form(request, "", error=sentence(refused.message), status=422)
    target = safe_next_or_empty(form.get("next"))
    cookie = request.cookies.get(security.cookie_name(security.LOGIN_COOKIE, secure(request)))
    if not security.tokens_match(cookie, form.get(security.CSRF_FIELD)):
        return csrf_refused(site, request)
    name, password = form.get("name", "").strip(), form.get("password", "")
    source = request.client.host if request.client else ""
    try:
        session_ = await site.logins.login(name, password, source)
    except Unauthenticated:
        return site.views.login_form(request, target, name=name, error="Unknown user or wrong password.", status=401)
    except LimitReached as refused:  # throttled (429) or every hashing thread busy (503): try later
        status = 503 if isinstance(refused, LoginBusy) else 429
        page = site.views.login_form(request, target, name=name, error=sentence(refused.message), status=status)
        page.headers["Retry-After"] = str(max(1, math.ceil(refused.retry_after or 1)))
        return page
    response = RedirectResponse(target or security.LANDING[session_.user.role], status_code=303)
    set_cookie(
        response, request, security.SESSION_COOKIE, session_.session_id, max_age=int(users.SESSION_TTL.total_seconds())
    )
    drop_cookie(response, request, security.LOGIN_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request, site: Web) -> Response:
    form = await read_form(request)
    found = await run_in_threadpool(session, site, request)
    if found is not None:
        if not security.tokens_match(found[1], form.get(security.CSRF_FIELD)):
            return csrf_refused(site, request, found[0])
        name = security.cookie_name(security.SESSION_COOKIE, secure(request))
        await run_in_threadpool(users.logout, site.db, request.cookies.get(name, ""))
    response = RedirectResponse("/login", status_code=303)
    drop_cookie(response, request, security.SESSION_COOKIE)
    return response


@router.get("/account")
def account(request: Request, site: Web) -> Response:
    user, csrf = page_user(site, request, None)
    return site.views.render(request, "account.html", user=user, csrf=csrf, title="Your account")
