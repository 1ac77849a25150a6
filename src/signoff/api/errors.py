"""The one place where Signoff's errors, and the framework's own, become HTTP responses in one body shape."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from signoff.errors import InvalidInput, LimitReached, Problem, PromotionRefused, SignoffError, problems_of, status_of

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


def _listed(problems: list[Problem]) -> list[dict[str, Any]]:
    return [{"location": p.location, "reason": p.reason} for p in problems]


def install(app: FastAPI) -> None:
    @app.exception_handler(SignoffError)
    async def _signoff(_request: Request, error: SignoffError) -> JSONResponse:
        status, name = status_of(error)
        problems = _listed(error.problems) if isinstance(error, InvalidInput | PromotionRefused) else None
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(error, LimitReached) and error.retry_after is not None:
            headers = {"Retry-After": str(max(1, round(error.retry_after)))}
        return ErrorResponse(error_body(name, error.message, problems), status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = problems_of(error.errors())
        listed = "; ".join(str(p) for p in problems[:10])
        return ErrorResponse(error_body("invalid_input", f"invalid request: {listed}", _listed(problems)), 422)

    @app.exception_handler(HTTPException)
    async def _framework(_request: Request, error: HTTPException) -> JSONResponse:
        status, kind, message = FRAMEWORK.get(error.status_code, (error.status_code, "error", str(error.detail)))
        problems = [{"location": "body", "reason": message}] if kind == "invalid_input" else None
        return ErrorResponse(error_body(kind, message, problems), status_code=status, headers=error.headers)
