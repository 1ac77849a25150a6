"""The one place where Signoff's errors become HTTP responses."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from signoff.errors import (
    Conflict,
    DatabaseNotReady,
    Forbidden,
    InvalidInput,
    LimitReached,
    ModelError,
    NotFound,
    SignoffError,
    Unauthenticated,
)
from signoff.store.database import DatabaseUnavailable

STATUS: list[tuple[type[SignoffError], int, str]] = [
    (InvalidInput, 422, "invalid_input"),
    (NotFound, 404, "not_found"),
    (Conflict, 409, "conflict"),
    (Unauthenticated, 401, "unauthenticated"),
    (Forbidden, 403, "forbidden"),
    (LimitReached, 429, "limit_reached"),
    (ModelError, 502, "model_error"),
    (DatabaseUnavailable, 503, "database_unavailable"),
    (DatabaseNotReady, 503, "database_not_ready"),
]


def error_body(kind: str, message: str, problems: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": kind, "message": message}
    if problems is not None:
        body["problems"] = problems
    return {"error": body}


def _location(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(SignoffError)
    async def _signoff(_request: Request, error: SignoffError) -> JSONResponse:
        for kind, status, name in STATUS:
            if isinstance(error, kind):
                problems = (
                    [{"location": p.location, "reason": p.reason} for p in error.problems]
                    if isinstance(error, InvalidInput)
                    else None
                )
                headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
                if isinstance(error, LimitReached) and error.retry_after is not None:
                    headers = {"Retry-After": str(max(1, round(error.retry_after)))}
                return JSONResponse(error_body(name, error.message, problems), status_code=status, headers=headers)
        return JSONResponse(error_body("error", error.message), status_code=500)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [{"location": _location(tuple(e["loc"])), "reason": e["msg"]} for e in error.errors()]
        listed = "; ".join(f"{p['location']}: {p['reason']}" for p in problems[:10])
        return JSONResponse(error_body("invalid_input", f"invalid request: {listed}", problems), status_code=422)
