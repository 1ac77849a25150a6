"""Single-case POSTs recorded together: the cases that arrive while intake is busy go through it as one batch.

Scoring one row costs about as much as scoring a hundred, and a write transaction costs about the same for one
case as for a few dozen, so at load a server that records each request on its own spends its time on per-call
overhead. ``Coalescer`` keeps, per flow and submitter, the validated cases waiting, and a drain hands all of them
to ``intake.submit`` in a worker thread. There is no timer: an idle server records a lone case at once, and under
load a batch is whatever arrived while the batches before it were being recorded (group commit). A few drains run
at once on PostgreSQL (``drains``), so that one batch is scored while another waits for the database: one at a time
left the server waiting on PostgreSQL's round trips and on a busy machine's scheduler, with its CPU idle. On SQLite
one at a time: its writes take turns on one lock anyway and there is no round trip to hide, so more drains only
made smaller batches (4 drains against 1 by hand: 6.3-7.1 against 3.7-4.0 ms of CPU per case).

Each request still gets its own answer: its own case (``created`` false for a replay) or its own error. When the
batch is refused for what one case can cause (``PER_CASE``: its external id reused with another payload, say), its
cases are recorded one by one, so that one case never fails another, as if each request had come alone. Any other
failure (the database down or busy) is every case's: each request gets that error, and nothing is tried again,
since one more attempt per case would only add load to a database that is already failing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool

from signoff import intake
from signoff.database import Database
from signoff.errors import Conflict, InvalidInput, ModelError

Outcome = intake.Submitted | Exception
DRAINS = {"postgresql": 4, "sqlite": 1}
# What one case can cause and so refuse a batch: a reused external id (or a race lost on one), a case the flow or
# the model refuses. Replayed alone, the others are recorded.
PER_CASE = (Conflict, InvalidInput, ModelError)


@dataclass
class _Waiting:
    """The cases of one flow and submitter waiting for the next drain, with each request's future."""

    runtime: intake.FlowRuntime  # the newest request's: a flow reloaded meanwhile serves the next batch
    cases: list[intake.CaseInput] = field(default_factory=list)
    answers: list[asyncio.Future[intake.Submitted]] = field(default_factory=list)


def _submit_all(
    db: Database, runtime: intake.FlowRuntime, cases: Sequence[intake.CaseInput], actor: str
) -> list[Outcome]:
    """Record the cases in one call to intake; if one case may be why it failed, each on its own, with its own
    result or error; else every case gets the batch's error."""
    try:
        return list(intake.submit(db, runtime, cases, actor))
    except Exception as error:  # noqa: BLE001  # handed to the requests that sent the cases
        if len(cases) == 1 or not isinstance(error, PER_CASE):
            return [error] * len(cases)
    outcomes: list[Outcome] = []
    for case in cases:
        try:
            outcomes.append(intake.submit(db, runtime, [case], actor)[0])
        except Exception as error:  # noqa: BLE001  # likewise, one request's error
            outcomes.append(error)
    return outcomes


class Coalescer:
    """Gathers single validated cases into batches for ``intake.submit``; one per app, used on its event loop."""

    def __init__(self, db: Database, limit: int, drains: int | None = None) -> None:
        self.db = db
        self.limit = limit  # cases in one batch at most (the API's batch limit)
        # batches of one flow and submitter being recorded at once, at most
        self.drains = DRAINS[db.dialect] if drains is None else drains
        self._waiting: dict[tuple[str, str], _Waiting] = {}
        self._draining: Counter[tuple[str, str]] = Counter()
        self._drains: set[asyncio.Task[None]] = set()  # kept referenced while they run

    async def submit(self, runtime: intake.FlowRuntime, case: intake.CaseInput, actor: str) -> intake.Submitted:
        """Record one validated case, with whatever other cases of the flow and actor are waiting."""
        key = (runtime.flow.name, actor)
        answer: asyncio.Future[intake.Submitted] = asyncio.get_running_loop().create_future()
        waiting = self._waiting.setdefault(key, _Waiting(runtime))
        waiting.runtime = runtime
        waiting.cases.append(case)
        waiting.answers.append(answer)
        if self._draining[key] < self.drains:
            self._draining[key] += 1
            drain = asyncio.create_task(self._drain(key))
            self._drains.add(drain)
            drain.add_done_callback(self._drains.discard)
        return await answer

    async def _drain(self, key: tuple[str, str]) -> None:
        """Record the waiting cases of ``key`` batch after batch, until none wait."""
        try:
            await self._batches(key)
        finally:  # no await between the last look at the waiting cases and this: none is left behind
            self._draining[key] -= 1

    async def _batches(self, key: tuple[str, str]) -> None:
        while (waiting := self._waiting.pop(key, None)) is not None:
            if len(waiting.cases) > self.limit:  # the rest wait for the next batch
                rest = _Waiting(waiting.runtime, waiting.cases[self.limit :], waiting.answers[self.limit :])
                self._waiting[key] = rest
                del waiting.cases[self.limit :], waiting.answers[self.limit :]
            try:
                outcomes = await run_in_threadpool(_submit_all, self.db, waiting.runtime, waiting.cases, key[1])
            except BaseException:  # cancelled (the server stops): no request is left waiting
                for answer in waiting.answers:
                    answer.cancel()
                raise
            for answer, outcome in zip(waiting.answers, outcomes, strict=True):
                if answer.done():  # its client went away; the case is recorded all the same
                    continue
                if isinstance(outcome, Exception):
                    answer.set_exception(outcome)
                else:
                    answer.set_result(outcome)
