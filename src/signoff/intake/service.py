"""Submit cases: score, route, and record case, prediction, route, task or decision and audit in one transaction."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError
from threadpoolctl import ThreadpoolController

from signoff import lifecycle
from signoff.audit import record
from signoff.config import Flow
from signoff.domain import AuditEvent, CaseId, CaseStatus, Verdict
from signoff.errors import Conflict, IdempotencyConflict, InvalidInput, Problem
from signoff.inputs.validation import CaseInput
from signoff.intake import challenger
from signoff.intake.challenger import Routed
from signoff.intake.runtime import FlowRuntime
from signoff.models import Scores
from signoff.models.adapters import Predict
from signoff.models.frames import columns_of, frame_of
from signoff.observe import tracing
from signoff.observe.prometheus import INTAKE_SECONDS
from signoff.routing import Batch, Route
from signoff.routing.policy import HELD_RULE
from signoff.store import cases as case_store
from signoff.store import reviewers as people
from signoff.store.database import Database
from signoff.store.records import Decision, NewCases, Submitted

log = logging.getLogger(__name__)


@cache
def _threadpools() -> ThreadpoolController:
    """The native thread pools (OpenMP, BLAS) loaded in this process, found once: finding them costs milliseconds."""
    return ThreadpoolController()


def one_thread() -> Any:
    """Score with one native thread. A model's default (OpenMP: one thread per core) made scoring 5-20 times slower
    on a loaded machine, its threads waiting on each other; intake's parallelism is its processes. threadpoolctl
    is the library scikit-learn itself uses to bound these pools."""
    return _threadpools().limit(limits=1)


def _deduplicate(flow: Flow, cases: Sequence[CaseInput]) -> list[CaseInput]:
    """Collapse repeats of one external id inside a batch; a repeat with another payload is a conflict."""
    seen: dict[str, CaseInput] = {}
    unique: list[CaseInput] = []
    for case in cases:
        if case.external_id is None:
            unique.append(case)
            continue
        earlier = seen.get(case.external_id)
        if earlier is None:
            seen[case.external_id] = case
            unique.append(case)
        elif earlier.payload_hash != case.payload_hash:
            raise IdempotencyConflict(flow.name, case.external_id)
    return unique


def _earlier(conn: Connection, flow: Flow, cases: Sequence[CaseInput]) -> dict[str, int]:
    """Case ids already recorded for these external ids; a changed payload is a conflict."""
    ids = [c.external_id for c in cases if c.external_id is not None]
    found = case_store.find_external(conn, flow.name, ids) if ids else {}
    for case in cases:
        earlier = found.get(case.external_id) if case.external_id is not None else None
        if earlier is not None and case.external_id is not None and earlier[1] != case.payload_hash:
            raise IdempotencyConflict(flow.name, case.external_id)
    return {ext: case_id for ext, (case_id, _hash) in found.items()}


def batch_of(runtime: FlowRuntime, frame: pd.DataFrame) -> Batch:
    """Score a table of cases and gather what the rules read: fields, the moment, audit draws, members, novelty."""
    with one_thread():
        scores = runtime.model.score(frame)
    return Batch(
        scores.probabilities,
        scores.problems,
        columns_of(runtime.flow, frame),
        datetime.now(UTC) if runtime.clock is None else runtime.clock.now(),
        runtime.draws.random(len(frame)),
        runtime.model.members(frame) if runtime.policy.needs_members else None,
        {name: _novelty(scorer, frame) for name, scorer in runtime.novelty.items()},
    )


def _novelty(scorer: Predict, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
    """A novelty scorer's output; a failure or a non-finite score counts as maximally novel (review)."""
    try:
        values = np.asarray(scorer(frame), dtype=np.float64).reshape(len(frame))
    except Exception:  # a broken scorer must send cases to people, not stop intake
        log.exception("novelty scorer failed")
        return np.full(len(frame), np.inf)
    return np.where(np.isfinite(values), values, np.inf)


def route(
    runtime: FlowRuntime, frame: pd.DataFrame, timings: dict[str, tuple[int, int]] | None = None
) -> tuple[Scores, list[Route]]:
    """Score and route a table of cases with the flow's current routing state, then remember their scores.
    ``timings`` receives the (start, end) nanoseconds of scoring and routing, for the cases' trace spans."""
    begin = time.time_ns()
    batch = batch_of(runtime, frame)
    scored = time.time_ns()
    routes = runtime.policy.route(batch, runtime.state.snapshot())
    if timings is not None:
        timings["score"], timings["route"] = (begin, scored), (scored, time.time_ns())
    if runtime.state.tracks_history:
        runtime.state.observe(runtime.policy.capacity_scores(batch))
    return Scores(batch.probabilities, list(batch.problems)), routes


def route_cases(
    runtime: FlowRuntime,
    cases: Sequence[CaseInput],
    frame: pd.DataFrame,
    timings: dict[str, tuple[int, int]] | None = None,
) -> Routed:
    """``route`` the cases by the champion, or, with a canary, its share of them by the canary, each part with its
    own routing state, the champion scoring the canary's cases beside it; a shadow scores every case beside."""
    by_canary = challenger.chosen(runtime, cases)
    if not by_canary.any():
        scores, routes = route(runtime, frame, timings)
        return Routed(runtime, scores, routes, by_canary, beside=challenger.shadowed(runtime, frame))
    assert runtime.challenger is not None
    part = {c: frame[by_canary == c].reset_index(drop=True) for c in (False, True)}
    empty: tuple[Scores, list[Route]] = (Scores(np.empty((0, len(runtime.flow.labels))), []), [])
    champion = route(runtime, part[False], timings) if len(part[False]) else empty
    canary = route(runtime.challenger.runtime, part[True], timings)
    alongside = challenger.beside(runtime, frame, np.flatnonzero(by_canary))
    return challenger.merged(runtime, by_canary, champion, canary, alongside)


def _write(
    db: Database,
    conn: Connection,
    runtime: FlowRuntime,
    cases: Sequence[CaseInput],
    routed: Routed,
    actor: str,
    gold: Sequence[str] | None = None,
    traces: Sequence[str | None] | None = None,
) -> list[Submitted]:
    """Record cases with their predictions (by the version that routed each), routes, tasks and model decisions,
    and the scores beside; gold cases (with ``gold`` labels) get neither tasks nor decisions: they wait to be
    served to reviewers as gold tasks. Built a column at a time and written in bulk (``store.cases.insert_new``);
    what the submitter learns of each case is what was written, not read back."""
    flow, scores, routes = runtime.flow, routed.scores, routed.routes
    by, ids = routed.routed_by(), routed.version_ids()
    now = db.now(conn)
    n = len(cases)
    auto = [r.verdict is not Verdict.REVIEW and gold is None for r in routes]
    held = [r.rule == HELD_RULE and gold is None for r in routes]
    case_ids = case_store.new_case_ids(db, conn, n)
    valid = scores.valid
    top = np.where(valid, scores.probabilities.argmax(axis=1) if n else 0, -1).tolist()
    rounded = scores.probabilities.tolist()
    probabilities: list[list[float] | None] = [row if ok else None for row, ok in zip(rounded, valid, strict=True)]
    labels = [flow.labels[t] if t >= 0 else None for t in top]
    waits = [
        CaseStatus.HELD if h else CaseStatus.DECIDED if a else CaseStatus.IN_REVIEW
        for a, h in zip(auto, held, strict=True)
    ]
    status = [CaseStatus.GOLD] * n if gold is not None else waits
    case_store.insert_new(
        conn,
        NewCases(
            flow=flow.name,
            created_at=now,
            submitted_by=actor,
            policy_version=runtime.policy.version,
            case_ids=case_ids,
            external_ids=[c.external_id for c in cases],
            fields=[c.fields for c in cases],
            payload_hashes=[c.payload_hash for c in cases],
            groups=[c.groups for c in cases],
            statuses=status,
            decided=auto,
            traceparents=list(traces) if traces else [None] * n,
            entities=[c.entity for c in cases],
            model_version_ids=ids,
            probabilities=probabilities,
            labels=labels,
            confidences=[max(p) if p else None for p in probabilities],
            problems=scores.problems,
            verdicts=[r.verdict for r in routes],
            rules=[r.rule for r in routes],
            reasons=[r.reason for r in routes],
            queues=[r.queue for r in routes],
            roles=[r.role for r in routes],
            priorities=[r.priority for r in routes],
            slas=[r.sla for r in routes],
            inclusion_probabilities=[r.inclusion_probability for r in routes],
        ),
    )
    challenger.record(conn, case_ids, routed, now)
    decisions: dict[CaseId, Decision] = {}
    if gold is not None:
        people.insert_gold(conn, case_ids, gold, now)
        opened = []
    else:
        waiting = [(cid, r) for cid, r, h in zip(case_ids, routes, held, strict=True) if not h]  # no task yet
        opened = lifecycle.open_routed(conn, flow, waiting, now)
        for one in dict.fromkeys(ids):  # the champion, and the canary if it routed some
            decided = [
                (cid, label)
                for cid, label, a, v in zip(case_ids, labels, auto, ids, strict=True)
                if a and label is not None and v == one
            ]
            decisions |= {d.case_id: d for d in lifecycle.decide_by_model(conn, decided, one, now)}
    task_of: dict[CaseId, int] = {}
    for task in opened:
        task_of.setdefault(task.case_id, task.id)
    events: list[AuditEvent] = []
    for cid, case, probs, problem, r, b in zip(
        case_ids, cases, probabilities, scores.problems, routes, by, strict=True
    ):
        data: dict[str, object] = {
            "flow": flow.name,
            "external_id": case.external_id,
            "payload_hash": case.payload_hash,
            "model_version": b.model.version,
            "probabilities": probs,
            "problem": problem,
            "policy_version": runtime.policy.version,
            "verdict": r.verdict.value,
            "rule": r.rule,
            "reason": r.reason,
        }
        if gold is not None:
            data["gold_label"] = gold[len(events)]
        elif cid in decisions:
            data["decision"] = decisions[cid].audit_data()
        if cid in task_of:
            data["task_id"] = task_of[cid]
        if r.inclusion_probability is not None:
            data["inclusion_probability"] = r.inclusion_probability
        events.append(AuditEvent(actor, "case.gold_added" if gold else "case.submitted", "case", str(cid), data))
    record(db, conn, events, now)
    return [
        Submitted(cid, case.external_id, state, r.verdict, r.rule, r.reason, r.queue, None, None)
        if (decision := decisions.get(cid)) is None
        else Submitted(
            cid, case.external_id, state, r.verdict, r.rule, r.reason, r.queue, decision.label, decision.decided_by
        )
        for cid, case, state, r in zip(case_ids, cases, status, routes, strict=True)
    ]


def submit(db: Database, runtime: FlowRuntime, cases: Sequence[CaseInput], actor: str) -> list[Submitted]:
    """Record validated cases; an external id seen before returns the earlier case (same payload) or conflicts.

    The model runs before the write transaction so that scoring never holds the database's write lock.
    """
    flow = runtime.flow
    started, start_ns = time.perf_counter(), tracing.now_ns()
    unique = _deduplicate(flow, cases)
    for _attempt in range(3):
        with db.transaction(write=False) as conn:
            known = _earlier(conn, flow, unique)
        fresh = [c for c in unique if c.external_id is None or c.external_id not in known]
        steps: dict[str, tuple[int, int]] = {}
        traces = tracing.CaseTraces(flow.name, len(fresh), start_ns) if fresh and tracing.enabled() else None
        with tracing.current(traces):  # log lines written while scoring carry the batch's trace id
            routed = route_cases(runtime, fresh, frame_of(flow, [c.fields for c in fresh]), steps) if fresh else None
        routes = [] if routed is None else routed.routes
        try:
            with db.transaction() as conn:
                written = tracing.now_ns()
                if _earlier(conn, flow, unique) != known:
                    continue  # another request recorded some of these meanwhile; start again
                if routed is not None and not challenger.canary_holds(conn, routed):
                    runtime = replace(runtime, challenger=None)  # the canary ended meanwhile: the champion routes all
                    continue
                parents = traces.traceparents() if traces else None
                new = _write(db, conn, runtime, fresh, routed, actor, traces=parents) if routed is not None else []
                new_ids = [s.case_id for s in new]
                summaries: dict[int, Submitted] = {s.case_id: s for s in new}
                if known:
                    summaries |= case_store.summaries(conn, list(known.values()))
            steps["enqueue"] = steps["decision"] = (written, tracing.now_ns())
            if traces is not None:
                traces.close(
                    new_ids, [r.verdict.value for r in routes], [r.queue or flow.default_queue for r in routes], steps
                )
            break
        except IntegrityError:
            continue  # a concurrent insert of the same external id won the race; the next pass replays it
    else:
        raise Conflict("the cases could not be recorded because of concurrent submissions; try again")
    new_by_external = {c.external_id: cid for c, cid in zip(fresh, new_ids, strict=True) if c.external_id}
    anonymous = iter(cid for c, cid in zip(fresh, new_ids, strict=True) if c.external_id is None)
    answered: set[str] = set()
    results = []
    for case in cases:
        if case.external_id is None:
            case_id, is_new = next(anonymous), True
        elif case.external_id in known:
            case_id, is_new = CaseId(known[case.external_id]), False
        else:  # new; a repeat of it later in the same batch is a replay
            case_id, is_new = new_by_external[case.external_id], case.external_id not in answered
            answered.add(case.external_id)
        summary = summaries[case_id]
        results.append(summary if summary.created == is_new else replace(summary, created=is_new))
    INTAKE_SECONDS.labels(flow.name).observe(time.perf_counter() - started)
    return results


def add_gold(db: Database, runtime: FlowRuntime, cases: Sequence[CaseInput], labels: Sequence[str], actor: str) -> int:
    """Record gold cases (known answers) for gold tasks: scored and routed like any case, so that a reviewer sees
    the same model view and reason, but never decided. Returns how many were added."""
    if len(cases) != len(labels):
        raise ValueError("one label per gold case")
    bad = sorted({label for label in labels if label not in runtime.flow.labels})
    if bad:
        raise InvalidInput([Problem("label", f"{bad} are not labels of flow {runtime.flow.name!r}")])
    scores, routes = route(runtime, frame_of(runtime.flow, [c.fields for c in cases]))
    routed = Routed(runtime, scores, routes, np.zeros(len(cases), dtype=np.bool_))
    with db.transaction() as conn:
        return len(_write(db, conn, runtime, cases, routed, actor, gold=labels))
