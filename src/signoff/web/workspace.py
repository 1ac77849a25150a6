"""What the review workspace shows for a claimed task, built from the case's record."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from signoff.config import Flow, ImageSpec, Project
from signoff.database import Database
from signoff.domain import Fields, User
from signoff.intake import FlowRuntime
from signoff.models.explain import contributions, reference_values
from signoff.review import Case, Claim, Prediction
from signoff.review.context import beside, recent_fields
from signoff.review.service import claimed_case
from signoff.review.views import shown_kind
from signoff.web import format as fmt

REFERENCE_SAMPLE = 500  # recent cases whose medians and modes are the reference values
REFERENCE_MAX_AGE = 600.0  # seconds before the reference values are recomputed
BAR = 150  # pixels for the longest bar of a chart half
EARLIER_ON_ENTITY = 5  # earlier cases about the same entity shown beside a task
IMAGE_SIDE = 192  # pixels for the longer side of a drawn image


class Workspace:
    """Builds task views; keeps each flow's reference values for a while (they change slowly)."""

    def __init__(self, project: Project, db: Database, runtimes: Mapping[str, FlowRuntime]) -> None:
        self.project = project
        self.db = db
        self.runtimes = runtimes
        self._references: dict[str, tuple[float, Fields]] = {}
        self._lock = threading.Lock()

    def reference(self, flow: Flow) -> Fields:
        with self._lock:
            cached = self._references.get(flow.name)
        if cached is not None and time.monotonic() - cached[0] < REFERENCE_MAX_AGE:
            return cached[1]
        values = reference_values(flow, recent_fields(self.db, flow.name, REFERENCE_SAMPLE))
        with self._lock:
            self._references[flow.name] = (time.monotonic(), values)
        return values

    def view(self, user: User, claim: Claim) -> dict[str, Any]:
        """Everything ``_task.html`` renders, plus what the page script needs to hold the lease."""
        flow = self.project.flow(claim.flow)
        record = claimed_case(self.db, user, claim)  # blind to other answers except when adjudicating; gold unmarked
        found = beside(self.db, flow, claim, record, EARLIER_ON_ENTITY)
        task = next(t for t in record.tasks if t.id == claim.task_id)
        fields = record.fields
        pictured = {name for spec in flow.images.values() for name in spec.field_names(list(flow.fields))}
        declared = [(name, spec.type) for name, spec in flow.fields.items() if name not in pictured]
        extra = [(name, "") for name in fields if name not in flow.fields]
        prediction = record.predictions[-1] if record.predictions else None
        route = record.routes[-1] if record.routes else None
        return {
            "task": {
                "id": claim.task_id,
                "kind": shown_kind(claim.kind),
                "flow": claim.flow,
                "queue": claim.queue,
                "case_id": claim.case_id,
                "external_id": record.external_id,
                "token": claim.token,
                "ttl": task.lease_ttl,
            },
            "description": flow.description,
            "fields": [
                {
                    "name": name,
                    "kind": kind,
                    "text": fmt.value(fields.get(name)),
                    "numeric": kind in ("number", "integer"),
                }
                for name, kind in declared + extra
            ],
            "model": self._model(flow, prediction, fields),
            "scores": scores_view(flow, record),
            "route": None if route is None else {"rule": route.rule, "reason": route.reason, "verdict": route.verdict},
            "earlier": [asdict(answer) for answer in found.answers],
            "entity": None
            if flow.entity is None
            else {
                "field": flow.entity,
                "named": fields.get(flow.entity) is not None,
                "value": fmt.value(fields.get(flow.entity)),
                "cases": [
                    {
                        "case_id": h.id,
                        "external_id": h.external_id,
                        "received": fmt.when(h.created_at),
                        "decision": h.label,
                        "decided_by": h.decided_by,
                        "status": h.status,
                    }
                    for h in found.history
                ],
            },
            "images": [image_view(spec.title or name, spec, flow, fields) for name, spec in flow.images.items()],
            "labels": [
                {"name": label, "key": key} for label, key in zip(flow.labels, label_keys(flow.labels), strict=True)
            ],
        }

    def _model(self, flow: Flow, prediction: Prediction | None, fields: Fields) -> dict[str, Any]:
        if prediction is None:
            return {"problem": "no prediction was recorded", "probabilities": [], "contributions": []}
        if prediction.problem is not None or prediction.probabilities is None:
            return {
                "problem": prediction.problem or "no probabilities",
                "version": prediction.model_version,
                "probabilities": [],
                "contributions": [],
            }
        probabilities = [float(p) for p in prediction.probabilities]
        confidence = float(prediction.confidence) if prediction.confidence is not None else max(probabilities)
        runtime = self.runtimes.get(flow.name)
        found = []
        explained_by = None
        if runtime is not None:
            explained_by = runtime.model.version
            found = contributions(
                flow,
                lambda frame: runtime.model.score(frame).probabilities,
                fields,
                self.reference(flow),
                label=prediction.label,
            )
        largest = max((abs(c.delta) for c in found), default=0.0) or 1.0
        return {
            "problem": None,
            "version": prediction.model_version,
            "label": prediction.label,
            "confidence": confidence,
            "confidence_text": fmt.percent(confidence),
            "confidence_width": round(2 * BAR * confidence, 1),
            "probabilities": [
                {
                    "label": label,
                    "text": fmt.percent(p),
                    "width": round(2 * BAR * p, 1),
                    "top": label == prediction.label,
                }
                for label, p in zip(flow.labels, probabilities, strict=False)
            ],
            "explained_by": explained_by,
            "contributions": [
                {
                    "field": c.field,
                    "value": fmt.value(c.value),
                    "reference": fmt.value(c.reference),
                    "points": fmt.signed_points(c.delta),
                    "positive": c.delta >= 0,
                    "x": BAR if c.delta >= 0 else round(BAR - BAR * abs(c.delta) / largest, 1),
                    "width": max(1.0, round(BAR * abs(c.delta) / largest, 1)),
                }
                for c in found
            ],
        }


def scores_view(flow: Flow, record: Case) -> list[dict[str, Any]]:
    """Each model version's score of the case, when there are several: the one that routed it, and each new
    champion's since (re-scored when it was promoted), so the reviewer sees the old and the new side by side."""
    if len(record.predictions) < 2:
        return []
    routed = {r.prediction_id for r in record.routes}
    return [
        {
            "version": p.model_version,
            "label": p.label or "no usable score",
            "probabilities": ", ".join(
                f"{label} {fmt.percent(float(v))}" for label, v in zip(flow.labels, p.probabilities, strict=False)
            )
            if p.probabilities
            else p.problem or "",
            "routed": p.id in routed,
        }
        for p in record.predictions
    ]


def image_view(title: str, spec: ImageSpec, flow: Flow, fields: Fields) -> dict[str, Any]:
    """One square per pixel field, its grey level from ``low`` (white) to ``high`` (black); a missing or
    non-numeric value is drawn as a hatched cell so that it cannot pass for white."""
    cell = IMAGE_SIDE / max(spec.width, spec.height)
    cells = []
    for index, name in enumerate(spec.field_names(list(flow.fields))):
        raw = fields.get(name)
        ink = None
        if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
            ink = min(1.0, max(0.0, (raw - spec.low) / (spec.high - spec.low)))
        shade = None if ink is None else round(255 * (1 - ink))
        cells.append(
            {
                "name": name,
                "text": fmt.value(raw),
                "x": round((index % spec.width) * cell, 2),
                "y": round((index // spec.width) * cell, 2),
                "fill": None if shade is None else f"rgb({shade},{shade},{shade})",
            }
        )
    return {
        "title": title,
        "width": round(spec.width * cell, 2),
        "height": round(spec.height * cell, 2),
        "cell": round(cell, 2),
        "cells": cells,
        "missing": sum(1 for c in cells if c["fill"] is None),
    }


def label_keys(labels: Sequence[str]) -> list[str]:
    """The key that chooses each label: the label itself when every label is a different single digit (digit
    transcription: pressing 7 means "7"), else 1-9 by position (labels after the ninth have none)."""
    if len(set(labels)) == len(labels) and all(len(label) == 1 and label.isdigit() for label in labels):
        return list(labels)
    return [str(i + 1) if i < 9 else "" for i in range(len(labels))]
