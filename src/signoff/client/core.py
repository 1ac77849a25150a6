"""What the client says to the API and makes of its answers, once, for both transports.

Every operation is a plan: a generator that yields the steps it needs (a request to send, a pause to wait) and is
sent back what each gave (the response), returning its result or yielding the items it reads. ``Client`` drives
plans with blocking calls and ``AsyncClient`` with awaits; the requests, the retries and backoff, the chunking,
the polling and the error mapping live here only.
"""

from __future__ import annotations

import itertools
import random
import time
import uuid
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from signoff import __version__
from signoff.api.schemas import (
    CaseIn,
    CaseOut,
    ClaimOut,
    DecisionOut,
    DecisionPageOut,
    FlowsOut,
    HeartbeatOut,
    HeldTaskOut,
    HeldTasksOut,
    OutcomeBatchOut,
    OutcomeOut,
    ReleasedOut,
    SkippedOut,
    SubmittedBatchOut,
    SubmittedOut,
    SubmittedReviewOut,
)
from signoff.client.errors import DecisionTimeout, Unreachable, error_of, retry_after

Model = TypeVar("Model", bound=BaseModel)
DEFAULT_BATCH = 1000  # cases or outcomes a request; the server takes up to 10,000 (SIGNOFF_MAX_BATCH)


@dataclass(frozen=True)
class Request:
    """One HTTP request to send. ``idempotent``: sending it twice records it once, so a request whose answer was
    lost (a timeout, a dropped connection) may be sent again; any other is resent only if it never left."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    idempotent: bool = True


@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class Emit:
    """An item an iterating plan hands its reader."""

    item: Any


@dataclass(frozen=True)
class Returned:
    """What a plan returned once it is done."""

    value: Any


Step = Request | Pause | Emit
Result = TypeVar("Result")
Plan = Generator[Step, httpx.Response | None, Result]  # what a plan yields, is sent, returns


def advance(plan: Plan[Any], reply: httpx.Response | None, error: httpx.TransportError | None) -> Step | Returned:
    """The plan's next step, given what its last one gave (a response, or the transport's failure)."""
    try:
        return plan.throw(error) if error is not None else plan.send(reply)
    except StopIteration as done:
        return Returned(done.value)


@dataclass(frozen=True)
class Retry:
    """When and how long to wait before sending a request again: on the statuses that mean "later" (429 and 503)
    and on a connection that failed, at most ``attempts`` more times, after ``backoff`` seconds doubled each time
    up to ``max_backoff`` (with up to 10% jitter, so that clients refused together do not return together), or
    after the server's Retry-After when it sends one (capped at ``max_backoff`` too)."""

    attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 30.0
    statuses: frozenset[int] = frozenset({429, 503})

    def delay(self, attempt: int, asked: float | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 0)."""
        if asked is not None:
            return min(asked, self.max_backoff)
        wait = min(self.backoff * 2.0**attempt, self.max_backoff)
        return wait * (1 + random.random() / 10)  # noqa: S311  # jitter, not a secret


NO_RETRY = Retry(attempts=0)


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "User-Agent": f"signoff-client/{__version__}"}


def exchange(request: Request, retry: Retry) -> Plan[httpx.Response]:
    """Send ``request``, again when the server says "later" or the connection fails, and return its successful
    response or raise the exception its error body stands for."""
    for attempt in itertools.count():
        try:
            response = yield request
        except httpx.TransportError as error:
            resend = isinstance(error, httpx.ConnectError) or request.idempotent
            if not resend or attempt >= retry.attempts:
                raise Unreachable(f"{request.method} {request.path}: {type(error).__name__}: {error}") from error
            yield Pause(retry.delay(attempt))
            continue
        assert response is not None, "a transport sends back a response or throws"
        if response.status_code in retry.statuses and attempt < retry.attempts:
            yield Pause(retry.delay(attempt, retry_after(response)))
            continue
        if response.is_error:
            raise error_of(response)
        return response
    raise AssertionError("unreachable")  # pragma: no cover


def call(request: Request, retry: Retry, model: type[Model]) -> Plan[Model]:
    """``exchange`` read as ``model``."""
    response = yield from exchange(request, retry)
    return model.model_validate_json(response.content)


def chunks(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    """``items`` in lists of ``size`` (the last one shorter), read lazily: a generator of a million cases is never
    held whole."""
    if size < 1:
        raise ValueError(f"batch_size must be at least 1, not {size}")
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def case_body(case: CaseIn | Mapping[str, Any]) -> dict[str, Any]:
    """A case as the API takes it, with an external id: the one given, or a new random one, so that a batch sent
    again after a lost answer is recorded once (the server replays what it recorded under that id)."""
    parsed = case if isinstance(case, CaseIn) else CaseIn.model_validate(case)
    return {"external_id": parsed.external_id or f"client-{uuid.uuid4()}", "fields": parsed.fields}


def submit(
    flow: str, cases: Iterable[CaseIn | Mapping[str, Any]], batch_size: int, retry: Retry
) -> Plan[list[SubmittedOut]]:
    results: list[SubmittedOut] = []
    for chunk in chunks(cases, batch_size):
        body = {"cases": [case_body(case) for case in chunk]}
        request = Request("POST", f"/api/v1/flows/{flow}/cases", json=body)
        results.extend((yield from call(request, retry, SubmittedBatchOut)).cases)
    return results


def case(case_id: int, retry: Retry) -> Plan[CaseOut]:
    return (yield from call(Request("GET", f"/api/v1/cases/{case_id}"), retry, CaseOut))


def wait(case_id: int, timeout: float, poll: float, retry: Retry) -> Plan[DecisionOut]:
    """Read the case until it is decided: at once, then after ``poll`` seconds growing by half each time up to 5 s
    (a review takes minutes, an automatic decision none), until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    interval = poll
    while True:
        found = yield from case(case_id, retry)
        if found.decision is not None:
            return found.decision
        left = deadline - time.monotonic()
        if left <= 0:
            raise DecisionTimeout(case_id, timeout)
        yield Pause(min(interval, left))
        interval = min(interval * 1.5, max(poll, 5.0))


def decisions(flow: str, after: int, limit: int, follow: float | None, retry: Retry) -> Plan[None]:
    """Emit the flow's decisions after the cursor ``after``, page by page; once caught up, stop, or with
    ``follow`` read again every ``follow`` seconds for the ones made since."""
    while True:
        params = {"after": after, "limit": limit}
        page = yield from call(Request("GET", f"/api/v1/flows/{flow}/decisions", params=params), retry, DecisionPageOut)
        for decision in page.decisions:
            yield Emit(decision)
            after = decision.seq
        if page.next_after is not None:
            after = page.next_after
            continue
        if follow is None:
            return
        yield Pause(follow)


def outcome_body(
    label: str,
    case_id: int | None,
    external_id: str | None,
    source: str | None,
    observed_at: str | None,
) -> dict[str, Any]:
    given = {"case_id": case_id, "external_id": external_id, "source": source, "observed_at": observed_at}
    return {"label": label} | {key: value for key, value in given.items() if value is not None}


def record_outcomes(
    flow: str, outcomes: Iterable[Mapping[str, Any]], batch_size: int, retry: Retry
) -> Plan[list[OutcomeOut]]:
    """Outcomes are idempotent by case and source, so a batch sent again is recorded once."""
    results: list[OutcomeOut] = []
    for chunk in chunks(outcomes, batch_size):
        request = Request("POST", f"/api/v1/flows/{flow}/outcomes", json={"outcomes": [dict(o) for o in chunk]})
        results.extend((yield from call(request, retry, OutcomeBatchOut)).outcomes)
    return results


def claim(flow: str | None, queue: str | None, retry: Retry) -> Plan[ClaimOut | None]:
    """A claim taken twice would hold two tasks: it is sent again only if it never reached the server."""
    body = {key: value for key, value in {"flow": flow, "queue": queue}.items() if value is not None}
    response = yield from exchange(Request("POST", "/api/v1/tasks/claim", json=body, idempotent=False), retry)
    return None if response.status_code == 204 else ClaimOut.model_validate_json(response.content)


def held(retry: Retry) -> Plan[list[HeldTaskOut]]:
    return (yield from call(Request("GET", "/api/v1/tasks/held"), retry, HeldTasksOut)).tasks


def submit_review(task_id: int, token: int, label: str, comment: str, retry: Retry) -> Plan[SubmittedReviewOut]:
    """The same review sent again is answered as a replay, so it is resent after a lost answer."""
    body = {"token": token, "label": label, "comment": comment}
    return (yield from call(Request("POST", f"/api/v1/tasks/{task_id}/submit", json=body), retry, SubmittedReviewOut))


def heartbeat(task_id: int, token: int, retry: Retry) -> Plan[HeartbeatOut]:
    request = Request("POST", f"/api/v1/tasks/{task_id}/heartbeat", json={"token": token})
    return (yield from call(request, retry, HeartbeatOut))


def skip(task_id: int, token: int, reason: str, unsure: bool, retry: Retry) -> Plan[SkippedOut]:
    body = {"token": token, "reason": reason, "unsure": unsure}
    request = Request("POST", f"/api/v1/tasks/{task_id}/skip", json=body, idempotent=False)
    return (yield from call(request, retry, SkippedOut))


def release(task_id: int, token: int, retry: Retry) -> Plan[ReleasedOut]:
    request = Request("POST", f"/api/v1/tasks/{task_id}/release", json={"token": token}, idempotent=False)
    return (yield from call(request, retry, ReleasedOut))


def flows(retry: Retry) -> Plan[FlowsOut]:
    return (yield from call(Request("GET", "/api/v1/flows"), retry, FlowsOut))
