"""Single cases submitted together are recorded together, each answered with its own result or error, on both
databases."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from helpers.builders import make_project
from helpers.loops import run_apart
from signoff import intake
from signoff.api.coalesce import Coalescer
from signoff.errors import DatabaseUnavailable, IdempotencyConflict
from signoff.intake import CaseInput, validate_case
from signoff.observe.prometheus import INTAKE_SECONDS
from signoff.store.database import Database
from signoff.store.schema import audit_events, cases


def _case(runtime: intake.FlowRuntime, score: float, external_id: str | None = None) -> CaseInput:
    found, problems = validate_case(runtime.flow, external_id, {"score": score, "group": "a"}, "case")
    assert found is not None, problems
    return found


def _intake_calls() -> float:
    """How many times this process ran intake for test-flow (its intake histogram's count)."""
    samples = [s for metric in INTAKE_SECONDS.collect() for s in metric.samples]
    return sum(s.value for s in samples if s.name.endswith("_count") and s.labels.get("flow") == "test-flow")


def _rows(db: Database) -> tuple[int, int]:
    with db.transaction(write=False) as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one() for t in (cases, audit_events))  # type: ignore[return-value]


Answer = intake.Submitted | BaseException


def _together(coalescer: Coalescer, runtime: intake.FlowRuntime, batch: list[CaseInput]) -> list[Answer]:
    """Submit every case at once, as concurrent requests do: all wait before the first batch starts."""

    async def run() -> list[Answer]:
        return await asyncio.gather(*(coalescer.submit(runtime, c, "intake") for c in batch), return_exceptions=True)

    return run_apart(run())


def _ok(answers: list[Answer]) -> list[intake.Submitted]:
    assert all(isinstance(a, intake.Submitted) for a in answers), answers
    return [a for a in answers if isinstance(a, intake.Submitted)]


@pytest.fixture
def runtime(db: Database, tmp_path: Path) -> intake.FlowRuntime:
    return intake.prepare(db, make_project(tmp_path, db.url))["test-flow"]


def test_cases_that_arrive_together_are_recorded_in_one_call(db: Database, runtime: intake.FlowRuntime) -> None:
    coalescer = Coalescer(db, limit=10_000)
    batch = [_case(runtime, score / 20, f"e{score}") for score in range(16)] + [_case(runtime, 0.5)]
    before, rows = _intake_calls(), _rows(db)
    results = _ok(_together(coalescer, runtime, batch))
    assert _intake_calls() - before == 1
    assert [r.external_id for r in results] == [f"e{score}" for score in range(16)] + [None]
    assert all(r.created for r in results) and len({r.case_id for r in results}) == 17
    assert _rows(db) == (rows[0] + 17, rows[1] + 17)  # each case and its audit event
    assert (results[0].verdict, results[0].decision) == ("auto", "good")
    assert (results[16].verdict, results[16].decision) == ("review", None)  # score 0.5: inside the review band


def test_one_conflicting_case_fails_only_its_own_request(db: Database, runtime: intake.FlowRuntime) -> None:
    coalescer = Coalescer(db, limit=10_000)
    first = _ok(_together(coalescer, runtime, [_case(runtime, 0.1, "known")]))[0]
    batch = [
        _case(runtime, 0.2, "new-1"),
        _case(runtime, 0.9, "known"),  # another payload under a recorded external id
        _case(runtime, 0.1, "known"),  # the same payload: a replay
        _case(runtime, 0.3, "new-2"),
        _case(runtime, 0.3, "new-2"),  # sent twice at once: one case, the second answer a replay
    ]
    results = _together(coalescer, runtime, batch)
    conflict = results.pop(1)
    assert isinstance(conflict, IdempotencyConflict) and conflict.external_id == "known"
    new, replay, once, again = _ok(results)
    assert new.created and (replay.case_id, replay.created) == (first.case_id, False)
    assert once.created and (again.case_id, again.created) == (once.case_id, False)
    assert _rows(db)[0] == 3  # known, new-1, new-2


def test_more_cases_than_the_limit_go_in_several_batches(db: Database, runtime: intake.FlowRuntime) -> None:
    coalescer = Coalescer(db, limit=4)
    before = _intake_calls()
    results = _ok(_together(coalescer, runtime, [_case(runtime, 0.1) for _ in range(10)]))
    assert _intake_calls() - before == 3  # 4, 4 and 2
    assert all(r.created for r in results) and _rows(db)[0] == 10


def _unreachable(db: Database, tmp_path: Path) -> Database:
    """A database of ``db``'s kind that cannot be reached: a file in a folder that does not exist, or a port no
    server listens on."""
    if db.dialect == "sqlite":
        return Database(f"sqlite:///{tmp_path / 'missing' / 'down.db'}")
    return Database("postgresql://postgres@127.0.0.1:1/down")


def test_a_database_down_fails_every_request_after_one_attempt(
    db: Database, runtime: intake.FlowRuntime, tmp_path: Path
) -> None:
    down = _unreachable(db, tmp_path)
    attempts: list[object] = []
    event.listen(down.engine, "do_connect", lambda *args: attempts.append(args))
    try:
        results = _together(Coalescer(down, limit=10_000), runtime, [_case(runtime, 0.1, f"d{i}") for i in range(8)])
    finally:
        down.dispose()
    assert len(attempts) == 1  # the batch's; no case tried again on its own
    assert all(isinstance(r, DatabaseUnavailable) for r in results), results
    assert _rows(db)[0] == 0
