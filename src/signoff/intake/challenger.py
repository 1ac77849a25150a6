"""A batch beside the flow's shadow or canary (``signoff.learning.canary``): which cases the canary routes, the
scores recorded without effect, and, in the write transaction, the check that the canary still holds.

A shadow's scores of every case, and the champion's of the cases a canary routes, go to ``shadow_predictions``:
scoring them never fails intake (a model that fails gives rows with a problem, counted in
``signoff_shadow_unscored``), and nothing routes or decides on them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Connection

from signoff.domain import CaseId, ModelStatus, ModelVersionId
from signoff.inputs.validation import CaseInput
from signoff.intake.runtime import FlowRuntime
from signoff.learning.canary import in_share
from signoff.models import Scores
from signoff.observe.prometheus import SHADOW_UNSCORED
from signoff.routing import Route
from signoff.store import model_versions as store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Beside:
    """One version's scores of some of the batch's cases (``rows``: their places in it), recorded without effect."""

    runtime: FlowRuntime
    rows: npt.NDArray[np.intp]
    scores: Scores


@dataclass(frozen=True)
class Routed:
    """A batch scored and routed: each case's scores and route, which cases the canary routed (``by_canary``, with
    ``canary`` the runtime that routed them; the champion's ``runtime`` routed the rest) and the scores beside."""

    runtime: FlowRuntime
    scores: Scores
    routes: list[Route]
    by_canary: npt.NDArray[np.bool_]
    canary: FlowRuntime | None = None
    beside: Beside | None = field(default=None)

    def routed_by(self) -> list[FlowRuntime]:
        """The runtime whose model routed each case."""
        return [self.canary if c and self.canary is not None else self.runtime for c in self.by_canary]

    def version_ids(self) -> list[ModelVersionId]:
        """The recorded model version that routed each case."""
        ids = [b.model_version_id for b in self.routed_by()]
        assert all(i is not None for i in ids), "an offline runtime cannot record cases"
        return [ModelVersionId(i) for i in ids if i is not None]


def chosen(runtime: FlowRuntime, cases: Sequence[CaseInput]) -> npt.NDArray[np.bool_]:
    """Which cases the flow's canary routes (none without a canary): its sticky share (``in_share``), keyed by the
    ``sticky_by`` field's value, else the external id, else the payload."""
    found = runtime.challenger
    if found is None or not found.canary or found.runtime.model_version_id is None:
        return np.zeros(len(cases), dtype=np.bool_)
    keys = []
    for case in cases:
        value = None if found.sticky_by is None else case.fields.get(found.sticky_by)
        if value is not None:
            keys.append(f"field:{value}")
        else:
            keys.append(f"id:{case.external_id}" if case.external_id is not None else f"payload:{case.payload_hash}")
    return in_share(runtime.flow.name, found.runtime.model_version_id, keys, found.share)


def beside(runtime: FlowRuntime, frame: pd.DataFrame, rows: npt.NDArray[np.intp]) -> Beside | None:
    """``runtime``'s model's scores of the batch's ``rows``, to record without effect; None when there are none or
    the scoring failed outright (logged and counted: it never fails intake)."""
    if not len(rows):
        return None
    version = runtime.model.version
    try:
        scores = runtime.model.score(frame.iloc[rows].reset_index(drop=True))
    except Exception:  # scores beside the routing ones must never stop a case
        log.exception("flow %s: %s could not score %d cases beside", runtime.flow.name, version, len(rows))
        SHADOW_UNSCORED.labels(runtime.flow.name, version).inc(len(rows))
        return None
    unscored = sum(problem is not None for problem in scores.problems)
    if unscored:
        SHADOW_UNSCORED.labels(runtime.flow.name, version).inc(unscored)
    return Beside(runtime, rows, scores)


def shadowed(runtime: FlowRuntime, frame: pd.DataFrame) -> Beside | None:
    """The flow's shadow's scores of every case of the batch (None without a shadow)."""
    found = runtime.challenger
    if found is None or found.status is not ModelStatus.SHADOW:
        return None
    return beside(found.runtime, frame, np.arange(len(frame)))


def merged(
    runtime: FlowRuntime,
    by_canary: npt.NDArray[np.bool_],
    champion: tuple[Scores, list[Route]],
    canary: tuple[Scores, list[Route]],
    scored_beside: Beside | None,
) -> Routed:
    """The champion's part and the canary's part of a batch (each in batch order) put back in batch order."""
    assert runtime.challenger is not None
    n = len(by_canary)
    probabilities = np.full((n, len(runtime.flow.labels)), np.nan)
    problems: list[str | None] = [None] * n
    routes: list[Route | None] = [None] * n
    for mask, (scores, part) in ((~by_canary, champion), (by_canary, canary)):
        places = np.flatnonzero(mask)
        if len(places):
            probabilities[places] = scores.probabilities
        for place, problem, route in zip(places, scores.problems, part, strict=True):
            problems[place], routes[place] = problem, route
    assert all(r is not None for r in routes)
    done = [r for r in routes if r is not None]
    return Routed(runtime, Scores(probabilities, problems), done, by_canary, runtime.challenger.runtime, scored_beside)


def record(conn: Connection, case_ids: Sequence[CaseId], routed: Routed, now: datetime) -> None:
    """Record the scores beside (a shadow's, or the champion's of a canary's cases) in the caller's transaction."""
    found = routed.beside
    if found is None or found.runtime.model_version_id is None:
        return
    labels = found.runtime.flow.labels
    rows = []
    for place, probabilities, problem in zip(
        found.rows, found.scores.probabilities, found.scores.problems, strict=True
    ):
        valid = problem is None
        rows.append(
            {
                "model_version_id": found.runtime.model_version_id,
                "case_id": case_ids[place],
                "probabilities": [float(p) for p in probabilities] if valid else None,
                "label": labels[int(np.argmax(probabilities))] if valid else None,
                "confidence": float(max(probabilities)) if valid else None,
                "problem": problem,
                "created_at": now,
            }
        )
    store.insert_shadow(conn, rows)


def canary_holds(conn: Connection, routed: Routed) -> bool:
    """Whether the canary that routed some of the batch is still the canary, read in the write transaction with
    its row share-locked: a roll-back that commits first is seen, one that comes after waits for this batch. So
    no case is routed by a canary after its end, in any process, whatever its runtime last read."""
    if routed.canary is None or not routed.by_canary.any():
        return True
    version_id: ModelVersionId | None = routed.canary.model_version_id
    return version_id is not None and store.status_held(conn, version_id) == ModelStatus.CANARY.value
