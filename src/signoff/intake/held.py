"""Route the cases held while a flow's remote model was down (``model.when_down: hold``), once it answers again.

``signoff worker`` calls ``release`` for every holding flow every second (``release_all``); it may run beside the
servers, and several workers may run at once: a held case is locked while it is routed, and one that another
process routed meanwhile is left alone. While the model is still down, the circuit breaker answers at once and
nothing is written. Released cases are scored and routed by the champion (a canary takes no part) with the current
routing state, like new cases: a review task is opened, or the model's decision recorded (``case.decided``, which
the broker consumers publish), and a ``case.routed`` event says why the case waited and where it went.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from signoff import lifecycle
from signoff.audit import record
from signoff.domain import AuditEvent, CaseId, DecidedBy, Verdict
from signoff.intake.runtime import FlowRuntime
from signoff.intake.service import route
from signoff.models import Scores
from signoff.models.frames import frame_of
from signoff.routing import Route
from signoff.routing.policy import HELD_RULE
from signoff.store import held as held_store
from signoff.store.database import Database
from signoff.store.held import Rerouted
from signoff.store.records import Decision

CHUNK = 500
ACTOR = "signoff-worker"


def holds(runtime: FlowRuntime) -> bool:
    """Whether the flow holds cases when its model is down."""
    return runtime.flow.model is not None and runtime.flow.model.holds


def release_all(db: Database, runtimes: Mapping[str, FlowRuntime], actor: str = ACTOR) -> int:
    """``release`` every holding flow's held cases; returns how many were routed."""
    return sum(release(db, runtime, actor) for runtime in runtimes.values() if holds(runtime))


def release(db: Database, runtime: FlowRuntime, actor: str = ACTOR, chunk: int = CHUNK) -> int:
    """Score and route the flow's held cases, oldest first, ``chunk`` at a time, until none is left or the model is
    still down (then the rest wait for the next call). Returns how many were routed."""
    flow, done = runtime.flow, 0
    while True:
        with db.transaction(write=False) as conn:
            waiting = held_store.held(conn, flow.name, chunk)
        if not waiting:
            return done
        scores, routes = route(runtime, frame_of(flow, [c.fields for c in waiting]))
        ready = [i for i, r in enumerate(routes) if r.rule != HELD_RULE]
        if ready:
            done += _write(db, runtime, [waiting[i].id for i in ready], scores, routes, ready, actor)
        if len(ready) < len(waiting):
            return done  # the model did not answer for all of them: the rest wait


def _write(
    db: Database,
    runtime: FlowRuntime,
    case_ids: Sequence[CaseId],
    scores: Scores,
    routes: Sequence[Route],
    rows: Sequence[int],
    actor: str,
) -> int:
    flow = runtime.flow
    assert runtime.model_version_id is not None, "a flow with a remote model has its version recorded"
    version_id = runtime.model_version_id
    probabilities, problems = scores.probabilities, scores.problems
    row_of = dict(zip(case_ids, rows, strict=True))
    with db.transaction() as conn:
        still = held_store.lock_held(conn, case_ids)
        now = db.now(conn)
        rerouted: list[Rerouted] = []
        for case_id, i in row_of.items():
            if case_id not in still:
                continue  # another process routed it meanwhile
            r, problem = routes[i], problems[i]
            row = [float(p) for p in probabilities[i]] if problem is None else None
            top = flow.labels[int(np.argmax(probabilities[i]))] if row is not None else None
            rerouted.append(
                Rerouted(
                    case_id, version_id, row, top, max(row) if row else None, problem, runtime.policy.version,
                    r.verdict, r.rule, r.reason, r.queue, r.role, r.priority, r.sla, r.inclusion_probability,
                )
            )  # fmt: skip
        held_store.reroute(conn, rerouted, now)
        pairs = [(new.case_id, routes[row_of[new.case_id]]) for new in rerouted]
        opened = lifecycle.open_routed(conn, flow, pairs, now)
        task_of = {task.case_id: task.id for task in opened}
        events: list[AuditEvent] = []
        for new in rerouted:
            data: dict[str, object] = {
                "flow": flow.name,
                "model_version": runtime.model.version,
                "probabilities": new.probabilities,
                "problem": new.problem,
                "policy_version": new.policy_version,
                "verdict": new.verdict.value,
                "rule": new.rule,
                "reason": new.reason,
                "held": "its model was unavailable when it came in",
            }
            if new.case_id in task_of:
                data["task_id"] = task_of[new.case_id]
            events.append(AuditEvent(actor, "case.routed", "case", str(new.case_id), data))
            if new.verdict is not Verdict.REVIEW and new.label is not None:
                decision = Decision(new.case_id, new.label, DecidedBy.MODEL, now, model_version_id=version_id)
                lifecycle.decide(db, conn, decision, actor, events)
        record(db, conn, events, now)
    return len(rerouted)
