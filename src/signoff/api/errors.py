"""The one place where Signoff's errors, and the framework's own, become HTTP responses in one body shape."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

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
MAX_PROBLEMS = 100  # listed in one error body; the rest are counted, so an error is never larger than its request

# The framework's own errors, by status: (status sent, type, message). Starlette answers 400 when the body is not
# JSON it can read (not UTF-8, not JSON, nested too deeply): for Signoff that is an invalid input like any other.
FRAMEWORK: dict[int, tuple[int, str, str]] = {
    400: (422, "invalid_input", "the request body is not valid JSON (UTF-8, nested at most a few hundred deep)"),
    404: (404, "not_found", "there is nothing at this address"),
    405: (405, "method_not_allowed", "this address does not take this method"),
    413: (413, "too_large", "the request body is too large"),
}


class ErrorResponse(JSONResponse):
    """JSON with every non-ASCII character escaped, so an error that echoes any text at all can be sent."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, allow_nan=False, separators=(",", ":")).encode()


def error_body(kind: str, message: str, problems: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": kind, "message": message}
    if problems is not None:
        body["problems"] = problems[:MAX_PROBLEMS]
        if len(problems) > MAX_PROBLEMS:
            body["omitted"] = len(problems) - MAX_PROBLEMS
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
                return ErrorResponse(error_body(name, error.message, problems), status_code=status, headers=headers)
        return ErrorResponse(error_body("error", error.message), status_code=500)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [{"location": _location(tuple(e["loc"])), "reason": e["msg"]} for e in error.errors()]
        listed = "; ".join(f"{p['location']}: {p['reason']}" for p in problems[:10])
        return ErrorResponse(error_body("invalid_input", f"invalid request: {listed}", problems), status_code=422)

    @app.exception_handler(HTTPException)
    async def _framework(_request: Request, error: HTTPException) -> JSONResponse:
        status, kind, message = FRAMEWORK.get(error.status_code, (error.status_code, "error", str(error.detail)))
        problems = [{"location": "body", "reason": message}] if kind == "invalid_input" else None
        return ErrorResponse(error_body(kind, message, problems), status_code=status, headers=error.headers)
