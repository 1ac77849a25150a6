"""The flow runtime: a flow loaded and ready to take cases (its model, its compiled policy and the routing state's
memory), with the model and policy versions recorded, and kept calibrated.

Recalibration stays off the request path: a flow is calibrated when it is loaded, then ``refresh`` recalibrates
the flows whose calibration is older than their ``calibration.min_refresh``; the server runs it in the
background, file ingestion between chunks. A submission only reads the current calibration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.exc import IntegrityError

from signoff.audit import record
from signoff.config import CapacityRule, Flow, OutOfDistributionRule, Project
from signoff.domain import AuditEvent, ModelVersionId
from signoff.errors import Conflict
from signoff.intake.labelled import read_labelled
from signoff.learning import calibrate
from signoff.models import LoadedModel, Scores, load_model
from signoff.models.adapters import entry_point
from signoff.models.frames import frame_of
from signoff.routing import Policy
from signoff.routing.state import RoutingState
from signoff.store import cases as case_store
from signoff.store import registry
from signoff.store.database import Database
from signoff.store.records import Verified


@dataclass(frozen=True)
class FlowRuntime:
    """A flow ready to take cases: its settings, its loaded model and its compiled policy, all recorded."""

    flow: Flow
    model: LoadedModel
    model_version_id: ModelVersionId | None
    policy: Policy
    state: RoutingState
    project: Project
    novelty: dict[str, Callable[[pd.DataFrame], Any]]


def _register(db: Database, flow: Flow, model: LoadedModel, actor: str) -> ModelVersionId:
    with db.transaction() as conn:
        now = db.now(conn)
        events: list[AuditEvent] = []
        found = registry.find_model_version(conn, flow.name, model.version)
        if found is None:
            version_id = registry.insert_model_version(
                conn,
                flow=flow.name,
                version=model.version,
                kind=model.kind,
                uri=model.uri,
                sha256=model.sha256,
                labels=list(model.labels),
                now=now,
            )
            events.append(
                AuditEvent(
                    actor,
                    "model.registered",
                    "model_version",
                    str(version_id),
                    {
                        "flow": flow.name,
                        "version": model.version,
                        "kind": model.kind,
                        "uri": model.uri,
                        "sha256": model.sha256,
                    },
                )
            )
        else:
            version_id, sha = found
            if sha != model.sha256:
                raise Conflict(
                    f"model version {model.version!r} of flow {flow.name!r} was recorded with another file "
                    f"(sha256 {sha}); give the new model a new 'version' in the flow file"
                )
        if not registry.has_policy_version(conn, flow.policy_version):
            document = flow.policy_document()
            registry.insert_policy_version(
                conn, flow=flow.name, version=flow.policy_version, document=document, now=now
            )
            events.append(
                AuditEvent(
                    actor,
                    "policy.registered",
                    "policy_version",
                    flow.policy_version,
                    {
                        "flow": flow.name,
                        "document": document,
                    },
                )
            )
        record(db, conn, events)
    return version_id


def warm_up(db: Database | None, runtime: FlowRuntime) -> None:
    """Give the routing state its memory: recent scores from the store, then a first calibration."""
    flow = runtime.flow
    if db is not None and runtime.state.tracks_history:
        windows = [getattr(rule, "window", 0) for rule in flow.policy]
        with db.transaction(write=False) as conn:  # stored predictions give the confidence score only
            recent = np.array(case_store.recent_confidences(conn, flow.name, max(windows))[::-1])
        runtime.state.observe(
            {rule.name: recent for rule in flow.policy if isinstance(rule, CapacityRule) and rule.score == "confidence"}
        )
    recalibrate(db, runtime)


def recalibrate(db: Database | None, runtime: FlowRuntime) -> None:
    """Certify the learning rules again on the verified labels of this model version (from the store, when
    there is one) plus the flow's calibration file (read once)."""
    flow = runtime.flow
    if not runtime.policy.learning_rules:
        return
    verified: list[Verified] = []
    if db is not None:
        with db.transaction(write=False) as conn:
            version_id = runtime.model_version_id
            if version_id is None:  # an offline replay: use the recorded version of this model, if any
                found = registry.find_model_version(conn, flow.name, runtime.model.version)
                version_id = found[0] if found else None
            if version_id is not None:
                verified = case_store.verified(conn, flow.name, version_id)
    rows = [v.fields for v in verified]
    probabilities = [v.probabilities for v in verified]
    human = [v.label for v in verified]
    if flow.calibration.file is not None:
        file_rows, file_probabilities, file_human = runtime.state.remember_file(lambda: _calibration_rows(runtime))
        rows, probabilities, human = rows + file_rows, probabilities + file_probabilities, human + file_human
    matrix = np.array(probabilities, dtype=np.float64).reshape(len(human), len(flow.labels))
    segments = {name: [r.get(name) for r in rows] for name in flow.fields}
    members = runtime.model.members(frame_of(flow, rows)) if runtime.policy.needs_members and rows else None
    runtime.state.calibrated(*calibrate.certificates(runtime.policy, matrix, human, segments, members))


@dataclass(frozen=True)
class CalibrationFile:
    """A flow's calibration file scored by a model: the cases' table, their true labels and the model's scores."""

    frame: pd.DataFrame
    labels: list[str]
    scores: Scores


def calibration_file(project: Project, flow: Flow, model: LoadedModel) -> CalibrationFile:
    """Read the flow's calibration file (it must name one) and score it: for calibration, and as the reference
    that drift is measured against."""
    assert flow.calibration.file is not None
    labelled = read_labelled(flow, project.resolve(flow.calibration.file), flow.calibration.label_column)
    return CalibrationFile(labelled.frame, labelled.labels, model.score(labelled.frame))


def _calibration_rows(runtime: FlowRuntime) -> tuple[list[dict[str, Any]], list[list[float]], list[str]]:
    """The calibration file's validly scored cases: their fields, probabilities and true labels."""
    found = calibration_file(runtime.project, runtime.flow, runtime.model)
    keep = found.scores.valid
    records = found.frame.to_dict(orient="records")
    rows = [{str(name): value for name, value in r.items()} for r, k in zip(records, keep, strict=True) if k]
    return (
        rows,
        [list(p) for p in found.scores.probabilities[keep]],
        [h for h, k in zip(found.labels, keep, strict=True) if k],
    )


def load(project: Project, flow: Flow, db: Database | None = None, actor: str = "system") -> FlowRuntime:
    """Load a flow's model and policy and warm its routing state. With a store, the model and policy versions
    are recorded (once; safe to repeat); without one (an offline replay), nothing is recorded."""
    model = load_model(project, flow)
    policy = Policy(flow, calibrate.profile(project, flow))
    version_id = None
    if db is not None:
        try:
            version_id = _register(db, flow, model, actor)
        except IntegrityError:  # another process registered the same versions at the same moment
            version_id = _register(db, flow, model, actor)
    novelty = {
        rule.name: entry_point(rule.novelty.entry_point, f"flows.{flow.name}.policy: rule {rule.name!r} novelty")
        for rule in flow.policy
        if isinstance(rule, OutOfDistributionRule) and rule.novelty is not None
    }
    runtime = FlowRuntime(flow, model, version_id, policy, RoutingState(policy), project, novelty)
    warm_up(db, runtime)
    return runtime


def prepare(db: Database, project: Project, actor: str = "system") -> dict[str, FlowRuntime]:
    """Load every flow of the project, ready to take cases."""
    return {name: load(project, flow, db, actor) for name, flow in project.flows.items()}


def refresh(db: Database, runtimes: Iterable[FlowRuntime]) -> None:
    """Recalibrate each flow whose last calibration is older than its ``calibration.min_refresh``, so that new
    reviews count without a restart. Requests never wait for it: the server calls it on a timer."""
    for runtime in runtimes:
        if runtime.policy.learning_rules and runtime.state.stale(runtime.flow.calibration.min_refresh):
            recalibrate(db, runtime)
