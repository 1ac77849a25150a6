"""The API's error bodies as exceptions: one class per error ``type`` the server answers with, each carrying the
status, the type and the message, and what explains it (the problems of an invalid input, the wait a limit asks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import httpx
from pydantic import ValidationError

from signoff.api.schemas import ErrorOut, ProblemOut
from signoff.errors import SignoffError


class ApiError(SignoffError):
    """The Signoff API refused the request."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        problems: Sequence[ProblemOut] = (),
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.problems = list(problems)
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


class Unauthenticated(ApiError):
    """No valid API token (401): check the token the client was given."""


class Forbidden(ApiError):
    """The token's role may not do this (403)."""


class NotFound(ApiError):
    """Something named does not exist, or is not the caller's to see (404)."""


class Conflict(ApiError):
    """The request conflicts with what is recorded (409): a stale lease, a reused external id, a closed task."""


class TooLarge(ApiError):
    """The request body is larger than the server takes (413): send smaller batches."""


class InvalidInput(ApiError):
    """The request is not valid (422); ``problems`` says where and why. Nothing was written."""


class LimitReached(ApiError):
    """A limit stops the caller for now (429); ``retry_after`` says for how many seconds, when the server knows."""


class ModelError(ApiError):
    """The flow's model could not be called (502)."""


class Unavailable(ApiError):
    """The server or its database is unavailable or busy (503)."""


class ServerError(ApiError):
    """The server failed (5xx)."""


class Unreachable(SignoffError):
    """The server could not be reached."""


class DecisionTimeout(SignoffError):
    """The case was not decided within the time allowed."""

    def __init__(self, case_id: int, seconds: float) -> None:
        super().__init__(f"case {case_id} was not decided within {seconds:g} s; it is still recorded, wait again")
        self.case_id = case_id
        self.seconds = seconds


BY_TYPE: Mapping[str, type[ApiError]] = {
    "unauthenticated": Unauthenticated,
    "forbidden": Forbidden,
    "not_found": NotFound,
    "conflict": Conflict,
    "too_large": TooLarge,
    "invalid_input": InvalidInput,
    "limit_reached": LimitReached,
    "model_error": ModelError,
    "database_unavailable": Unavailable,
    "database_not_ready": Unavailable,
}
BY_STATUS: Mapping[int, type[ApiError]] = {
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
    422: InvalidInput,
    429: LimitReached,
    502: ModelError,
    503: Unavailable,
}


def retry_after(response: httpx.Response) -> float | None:
    """The seconds a Retry-After header asks for (its number form; Signoff sends no date), or None."""
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None


def error_of(response: httpx.Response) -> ApiError:
    """The exception an error response stands for: by the body's ``type``, else by the status (a proxy's page)."""
    try:
        body = ErrorOut.model_validate_json(response.content).error
    except ValidationError:
        text = " ".join(response.text.split())[:300] or response.reason_phrase
        kind = BY_STATUS.get(response.status_code, ServerError if response.status_code >= 500 else ApiError)
        return kind(response.status_code, "error", text, retry_after=retry_after(response))
    kind = BY_TYPE.get(body.type) or BY_STATUS.get(response.status_code, ApiError)
    if kind is ApiError and response.status_code >= 500:
        kind = ServerError
    return kind(response.status_code, body.type, body.message, body.problems or (), retry_after(response))
