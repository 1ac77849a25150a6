"""Spare review capacity spent on active learning: when a claim finds nothing flagged, a flow with
``learning.explore`` offers one of its recent automatically decided cases, drawn by ``signoff.learning.active`` and
recorded in ``al_selections`` with the probability that the draw chose it. The review it yields sits beside the
model's decision, which stands; its label is an exploration label weighted by the inverse of that probability, so
that training and estimates on such labels are not biased toward the cases the model found hard."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime

import numpy as np
from sqlalchemy import Connection

from signoff import lifecycle
from signoff.config import Flow
from signoff.domain import AuditEvent, User
from signoff.learning import active
from signoff.store import selections
from signoff.store.database import Database
from signoff.store.records import Task


def offer(
    db: Database,
    conn: Connection,
    queues: Sequence[tuple[Flow, str]],
    user: User,
    now: datetime,
    rng: random.Random,
    events: list[AuditEvent],
) -> Task | None:
    """An exploration task leased to ``user`` in the first of ``queues`` (those open to them now) where a flow
    offers one, with ``exploration.offered`` appended to ``events``; None if no flow has a case to offer."""
    for flow, queue in queues:
        spec = flow.learning.explore
        if spec is None or not spec.when_idle or queue != (spec.queue or flow.default_queue):
            continue
        pool = selections.pool(conn, flow.name, user.id, user.name, spec.pool)
        if not pool:
            continue
        margins = active.margins([c.probabilities for c in pool])
        drawn = active.select(
            margins,
            1,
            np.random.default_rng(rng.getrandbits(64)),
            strategy=spec.strategy,
            epsilon=spec.epsilon,
            temperature=spec.temperature,
        )
        case_id = pool[int(drawn.indices[0])].case_id
        if not selections.still_free(conn, case_id):
            return None  # a concurrent claim drew it first; the next claim draws again
        task = lifecycle.open_exploration(db, conn, flow, queue, case_id, user.id, now)
        probability, margin = float(drawn.probabilities[0]), float(drawn.margins[0])
        selection = selections.record(
            conn,
            case_id=case_id,
            flow=flow.name,
            task_id=task.id,
            probability=probability,
            margin=margin,
            strategy=spec.strategy,
            pool_size=len(pool),
            now=now,
        )
        data = {
            "selection_id": selection,
            "task_id": task.id,
            "queue": queue,
            "probability": probability,
            "margin": margin,
            "strategy": spec.strategy,
            "pool_size": len(pool),
        }
        events.append(AuditEvent(user.name, "exploration.offered", "case", str(case_id), data))
        return task
    return None
