"""What the web UI sends: pages rendered from the Jinja templates, the fragments and JSON the page script
receives, and the cookies it sets. No reading of sessions or forms here (``signoff.web.dependencies``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined

from signoff import __version__, users
from signoff.domain import User
from signoff.errors import SignoffError, status_of
from signoff.web import format as fmt
from signoff.web import security

PAGES: list[tuple[str, str, users.Action]] = [  # (path, title, the permission it needs)
    ("/review", "Review", "review"),
    ("/lead", "Review floor", "assign"),
    ("/owner", "Flows and models", "read_metrics"),
    ("/audit", "Audit", "audit"),
]


class Views:
    """The templates, with the values every page shares: the user, their CSRF token and the pages they may open."""

    def __init__(self) -> None:
        self.templates = Environment(
            loader=PackageLoader("signoff.web", "templates"),
            autoescape=True,  # every value is escaped unless a template says otherwise (none does)
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.globals.update(fmt=fmt, version=__version__)

    def render(self, request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        user: User | None = values.pop("user", None)
        csrf: str | None = values.pop("csrf", None)
        nav = [(path, title) for path, title, action in PAGES if user is not None and users.may(user, action)]
        html = self.templates.get_template(template).render(
            user=user, csrf=csrf, nav=nav, path=request.url.path, **values
        )
        return HTMLResponse(html, status_code=status, headers=security.SECURITY_HEADERS)

    def fragment(self, name: str, **values: object) -> str:
        return self.templates.get_template(name).render(**values)

    def error_page(
        self, request: Request, user: User | None, csrf: str | None, status: int, title: str, message: str
    ) -> HTMLResponse:
        return self.render(request, "error.html", status, user=user, csrf=csrf, title=title, message=message)

    def login_form(
        self, request: Request, target: str, *, name: str = "", error: str | None = None, status: int = 200
    ) -> HTMLResponse:
        token = security.new_login_token()
        response = self.render(
            request, "login.html", status, title="Log in", login_token=token, next=target, username=name, error=error
        )
        set_cookie(response, request, security.LOGIN_COOKIE, token, max_age=3600)
        return response


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, base: str, value: str, *, max_age: int) -> None:
    """Every cookie of the UI: host-only over https, out of the page script's reach, sent on top-level links."""
    response.set_cookie(
        security.cookie_name(base, secure(request)),
        value,
        max_age=max_age,
        path="/",
        secure=secure(request),
        httponly=True,
        samesite="lax",
    )


def drop_cookie(response: Response, request: Request, base: str) -> None:
    name = security.cookie_name(base, secure(request))
    response.delete_cookie(name, path="/", secure=secure(request), httponly=True, samesite="lax")


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def json_body(payload: object, status: int = 200, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(jsonable_encoder(payload), status_code=status, headers=dict(headers or {}))


def json_error(error: SignoffError) -> JSONResponse:
    """The page script's error body: the message it shows, with the status both HTTP edges give the error."""
    status, _ = status_of(error)
    return json_body({"error": {"status": status, "message": error.message}}, status)


@contextmanager
def mark(marks: dict[str, float], name: str) -> Iterator[None]:
    """Add the time the block takes, in ms, to ``marks[name]``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        marks[name] = marks.get(name, 0.0) + (time.perf_counter() - started) * 1000


def timed(run: Callable[[dict[str, float]], object]) -> Response:
    """Run a page-script action. Its server time goes in a Server-Timing header (the whole as ``app``, and the
    parts the action marked); errors become JSON with a message the page shows."""
    marks: dict[str, float] = {}
    started = time.perf_counter()
    try:
        payload = run(marks)
    except SignoffError as error:
        return json_error(error)
    marks["app"] = (time.perf_counter() - started) * 1000
    timing = ", ".join(f"{name};dur={ms:.2f}" for name, ms in marks.items())
    return json_body(payload, headers={"Server-Timing": timing, **security.SECURITY_HEADERS})
