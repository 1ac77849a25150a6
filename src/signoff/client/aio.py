"""``AsyncClient``: the API over httpx's asyncio calls. The requests and what is made of the answers are ``core``'s."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import Any, TypedDict, cast

import httpx

from signoff.api.schemas import (
    CaseIn,
    CaseOut,
    ClaimOut,
    DecisionOut,
    FlowDecisionOut,
    FlowsOut,
    HeartbeatOut,
    HeldTaskOut,
    OutcomeOut,
    ReleasedOut,
    SkippedOut,
    SubmittedOut,
    SubmittedReviewOut,
)
from signoff.client import core
from signoff.client.core import DEFAULT_BATCH, Emit, Pause, Plan, Result, Retry, Returned


class Options(TypedDict, total=False):
    """The keyword arguments of ``AsyncClient`` (and so of ``Client``), as ``AsyncClient.__init__`` gives them."""

    timeout: float
    retry: Retry | None
    http: httpx.AsyncClient | None


class AsyncClient:
    """Signoff's API at ``base_url`` as the holder of ``token``; a context manager that closes its connections.
    ``retry`` says when a request is sent again (429, 503, a failed connection); ``http`` replaces the httpx
    client (its base URL and headers are then the caller's to set)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        retry: Retry | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.retry = retry or Retry()
        self._http = http or httpx.AsyncClient(base_url=base_url, headers=core.headers(token), timeout=timeout)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _do(self, step: core.Request | Pause) -> tuple[httpx.Response | None, httpx.TransportError | None]:
        if isinstance(step, Pause):
            await asyncio.sleep(step.seconds)
            return None, None
        try:
            return await self._http.request(step.method, step.path, params=step.params, json=step.json), None
        except httpx.TransportError as error:
            return None, error

    async def _run(self, plan: Plan[Result]) -> Result:
        reply, error = None, None
        while not isinstance(step := core.advance(plan, reply, error), Returned):
            assert not isinstance(step, Emit), "a plan that returns a value emits nothing"
            reply, error = await self._do(step)
        return cast(Result, step.value)

    async def _iterate(self, plan: Plan[None]) -> AsyncIterator[Any]:
        reply, error = None, None
        while not isinstance(step := core.advance(plan, reply, error), Returned):
            if isinstance(step, Emit):
                reply, error = None, None
                yield step.item
            else:
                reply, error = await self._do(step)

    async def flows(self) -> FlowsOut:
        """The flows the token may read: their labels, fields, model and policy versions."""
        return await self._run(core.flows(self.retry))

    async def submit(
        self, flow: str, cases: Iterable[CaseIn | Mapping[str, Any]], *, batch_size: int = DEFAULT_BATCH
    ) -> list[SubmittedOut]:
        """Submit cases (``{"external_id": ..., "fields": {...}}``, the id optional) in batches of ``batch_size``,
        each all or nothing; one result a case, in order. A case without an external id is given a random one."""
        return await self._run(core.submit(flow, cases, batch_size, self.retry))

    async def case(self, case_id: int) -> CaseOut:
        """The case's whole record, as far as the token may see it."""
        return await self._run(core.case(case_id, self.retry))

    async def wait(self, case_id: int, *, timeout: float = 60.0, poll: float = 0.2) -> DecisionOut:
        """The case's decision once it is made; ``DecisionTimeout`` after ``timeout`` seconds."""
        return await self._run(core.wait(case_id, timeout, poll, self.retry))

    def decisions(
        self, flow: str, *, after: int = 0, limit: int = 100, follow: float | None = None
    ) -> AsyncIterator[FlowDecisionOut]:
        """The flow's decisions after the cursor ``after`` (a decision's ``seq``), in the order they were sealed;
        it ends when caught up, or with ``follow`` reads on every ``follow`` seconds."""
        return self._iterate(core.decisions(flow, after, limit, follow, self.retry))

    async def record_outcome(
        self,
        flow: str,
        label: str,
        *,
        case_id: int | None = None,
        external_id: str | None = None,
        source: str | None = None,
        observed_at: str | None = None,
    ) -> OutcomeOut:
        """Record the ground truth of one case, named by ``case_id`` or ``external_id``."""
        body = core.outcome_body(label, case_id, external_id, source, observed_at)
        return (await self.record_outcomes(flow, [body]))[0]

    async def record_outcomes(
        self, flow: str, outcomes: Iterable[Mapping[str, Any]], *, batch_size: int = DEFAULT_BATCH
    ) -> list[OutcomeOut]:
        """Record outcomes (``case_id`` or ``external_id``, ``label``, optional ``source`` and ``observed_at``)."""
        return await self._run(core.record_outcomes(flow, outcomes, batch_size, self.retry))

    async def claim(self, flow: str | None = None, queue: str | None = None) -> ClaimOut | None:
        """Lease the most urgent task the token may take (of ``flow``, ``queue``), or None when none waits."""
        return await self._run(core.claim(flow, queue, self.retry))

    async def held(self) -> list[HeldTaskOut]:
        """The token's live leases, to go on with or release."""
        return await self._run(core.held(self.retry))

    async def submit_review(self, task_id: int, token: int, label: str, comment: str = "") -> SubmittedReviewOut:
        """Answer a claimed task under its lease ``token``; the answer becomes the case's decision."""
        return await self._run(core.submit_review(task_id, token, label, comment, self.retry))

    async def heartbeat(self, task_id: int, token: int) -> HeartbeatOut:
        """Extend the lease while the review goes on."""
        return await self._run(core.heartbeat(task_id, token, self.retry))

    async def skip(self, task_id: int, token: int, reason: str, *, unsure: bool = False) -> SkippedOut:
        """Pass the task on with a reason (``unsure``: looked, could not decide)."""
        return await self._run(core.skip(task_id, token, reason, unsure, self.retry))

    async def release(self, task_id: int, token: int) -> ReleasedOut:
        """Give the task back to its queue."""
        return await self._run(core.release(task_id, token, self.retry))
