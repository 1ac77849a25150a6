"""The one place where Signoff's errors, and the framework's own, become HTTP responses in one body shape."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from signoff.api.schemas import ErrorDetail, ErrorOut, ProblemOut
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


def error_json(body: ErrorOut) -> bytes:
    """The body as JSON with every non-ASCII character escaped, so an error that echoes any text at all can be
    sent; a part it does not have (problems, omitted) is left out, not sent as null."""
    return json.dumps(body.model_dump(exclude_none=True), allow_nan=False, separators=(",", ":")).encode()


class ErrorResponse(JSONResponse):
    """An error response: its content is an ``ErrorOut``, the body the OpenAPI document gives every error."""

    def render(self, content: Any) -> bytes:  # Starlette's hook takes any content; ours is always an ErrorOut
        return error_json(content)


def error_body(kind: str, message: str, problems: list[Problem] | None = None) -> ErrorOut:
    """An error's body, with at most ``MAX_PROBLEMS`` of its problems listed and the rest counted."""
    listed, omitted = None, None
    if problems is not None:
        listed = [ProblemOut(location=p.location, reason=p.reason) for p in problems[:MAX_PROBLEMS]]
        omitted = len(problems) - MAX_PROBLEMS if len(problems) > MAX_PROBLEMS else None
    return ErrorOut(error=ErrorDetail(type=kind, message=message, problems=listed, omitted=omitted))


def install(app: FastAPI) -> None:
    @app.exception_handler(SignoffError)
    async def _signoff(_request: Request, error: SignoffError) -> JSONResponse:
        status, name = status_of(error)
        problems = error.problems if isinstance(error, InvalidInput | PromotionRefused) else None
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(error, LimitReached) and error.retry_after is not None:
            headers = {"Retry-After": str(max(1, round(error.retry_after)))}
        return ErrorResponse(error_body(name, error.message, problems), status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = problems_of(error.errors())
        listed = "; ".join(str(p) for p in problems[:10])
        return ErrorResponse(error_body("invalid_input", f"invalid request: {listed}", problems), 422)

    @app.exception_handler(HTTPException)
    async def _framework(_request: Request, error: HTTPException) -> JSONResponse:
        status, kind, message = FRAMEWORK.get(error.status_code, (error.status_code, "error", str(error.detail)))
        problems = [Problem("body", message)] if kind == "invalid_input" else None
        return ErrorResponse(error_body(kind, message, problems), status_code=status, headers=error.headers)
