"""One error root for the whole package; each subclass carries the data that explains it.

The edges translate these into their own language: HTTP statuses by ``status_of`` (the one map both HTTP edges,
the API and the web UI, use), exit codes and messages in the CLI. Nothing below the edges raises or reads a status.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class SignoffError(Exception):
    """Something went wrong in Signoff."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where it is and what was expected."""

    location: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}"


class InvalidInput(SignoffError):
    """The input is not valid."""

    def __init__(self, problems: list[Problem], message: str | None = None) -> None:
        self.problems = problems
        self.head = head = message or "invalid input"
        listed = "; ".join(str(p) for p in problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__(f"{head}: {listed}{more}" if problems else head)


class ConfigError(SignoffError):
    """The configuration is not valid."""

    def __init__(self, path: str, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{path} is not a valid Signoff configuration:\n{lines}")


class NotFound(SignoffError):
    """The thing asked for does not exist."""

    def __init__(self, kind: str, key: object) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key!r} does not exist")


class Conflict(SignoffError):
    """The request conflicts with what is already recorded."""


class PromotionRefused(Conflict):
    """The promotion gate refused a challenger: ``reasons`` names each failed condition with its numbers."""

    def __init__(self, flow: str, version: str, reasons: Sequence[str]) -> None:
        self.reasons = tuple(reasons)
        self.problems = [Problem("gate", reason) for reason in self.reasons]
        listed = "; ".join(self.reasons)
        super().__init__(
            f"the promotion gate refused {version} of flow {flow!r}: {listed} (nothing changed; override with a reason "
            "to promote it anyway)"
        )


class IdempotencyConflict(Conflict):
    """The external id was used before with another payload."""

    def __init__(self, flow: str, external_id: str) -> None:
        self.flow = flow
        self.external_id = external_id
        super().__init__(
            f"case {external_id!r} of flow {flow!r} was already submitted with a different payload; "
            "an external id may only be reused with the identical payload"
        )


class LeaseRefused(Conflict):
    """The lease on this task is not held by the caller any more."""

    def __init__(self, task_id: int, token: int, why: str) -> None:
        self.task_id = task_id
        self.token = token
        self.why = why
        super().__init__(f"lease {token} on task {task_id} is refused: {why}; nothing was changed")


class TaskClosed(Conflict):
    """The task has already been completed."""

    def __init__(self, task_id: int) -> None:
        self.task_id = task_id
        super().__init__(f"task {task_id} is already completed")


class LimitReached(SignoffError):
    """A workload limit (leases held, tasks per hour, continuous work) stops this reviewer for now."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unauthenticated(SignoffError):
    """A valid API token is required."""


class Forbidden(SignoffError):
    """The caller's role does not allow this."""

    def __init__(self, role: str, allowed: tuple[str, ...]) -> None:
        self.role = role
        self.allowed = allowed
        super().__init__(f"role {role!r} may not do this; allowed roles: {', '.join(allowed)}")


class FourEyes(Forbidden):
    """A change nobody may make to themselves (their own skills, their own pause): a second person must."""

    def __init__(self, message: str) -> None:
        SignoffError.__init__(self, message)
        self.role, self.allowed = "", ()


class ModelError(SignoffError):
    """The model could not be loaded or called."""


MODEL_UNAVAILABLE = "the model is unavailable"
"""How the problem of a case that a remote model could not score begins (routing names it, intake holds it)."""


class ModelUnavailable(ModelError):
    """A remote model did not answer (refused, timed out, a server error, after its retries) or its circuit is open:
    nothing is wrong with the cases, and the same call may succeed later."""


class DatabaseNotReady(SignoffError):
    """The database schema is missing or out of date; run `signoff db upgrade`."""


class DatabaseUnavailable(SignoffError):
    """The database cannot be reached."""


# The HTTP status and error type of each error, most specific first; anything else is a 500.
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


def status_of(error: SignoffError) -> tuple[int, str]:
    """The HTTP status and error type an edge answers ``error`` with."""
    return next(((status, name) for kind, status, name in STATUS if isinstance(error, kind)), (500, "error"))


def problems_of(
    items: Sequence[Mapping[str, Any]],
    prefix: tuple[int | str, ...] = (),
    *,
    top: str = "body",
    reason: Callable[[Mapping[str, Any]], str] | None = None,
) -> list[Problem]:
    """Pydantic's errors (``ValidationError.errors()``) as problems, each located the way every message writes a
    place: ``cases[3].fields.amount``. The framework's leading ``body`` is dropped; ``top`` names the whole input."""
    problems = []
    for item in items:
        loc = tuple(item["loc"])
        if item["type"] == "too_short" and any(
            len(other["loc"]) > len(loc) and tuple(other["loc"][: len(loc)]) == loc for other in items
        ):
            continue  # the items themselves were refused; saying the list is then too short only adds noise
        where = ""
        for part in prefix + (loc[1:] if loc[:1] == ("body",) else loc):
            where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
        text = reason(item) if reason is not None else str(item["msg"]).removeprefix("Value error, ")
        problems.append(Problem(where or top, text))
    return problems
