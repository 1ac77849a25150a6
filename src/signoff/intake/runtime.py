"""The flow runtime: a flow loaded and ready to take cases (its model, its compiled policy and the routing state's
memory), with the model and policy versions recorded, and kept calibrated.

Recalibration stays off the request path: a flow is calibrated when it is loaded, then ``refresh`` recalibrates
the flows whose calibration is older than their ``calibration.min_refresh``; the server runs it in the
background, file ingestion between chunks. A submission only reads the current calibration.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from signoff.audit import change, record
from signoff.audit.changes import without_credentials
from signoff.clock import Clock
from signoff.config import CapacityRule, Flow, OutOfDistributionRule, Project
from signoff.domain import AuditEvent, Fields, ModelStatus, ModelVersionId, content_hash
from signoff.errors import ModelError
from signoff.inputs.labelled import calibration_file
from signoff.learning import calibrate, canary, promotion, registry
from signoff.learning.registry import ModelVersion
from signoff.models import LoadedModel, Scores, load_model
from signoff.models.adapters import Predict, entry_point
from signoff.models.frames import frame_of
from signoff.routing import Policy
from signoff.routing.policy import NO_MODEL, PolicyState
from signoff.routing.state import RoutingState
from signoff.store import cases as case_store
from signoff.store import flow_loads as load_store
from signoff.store import model_versions as model_store
from signoff.store import registry as policy_store
from signoff.store.database import Database
from signoff.store.records import FlowLoad, Verified

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FlowRuntime:
    """A flow ready to take cases: its settings, the model that serves it and its compiled policy, all recorded.
    ``champion_id`` is the registry's champion when it was loaded: when the champion changes, ``refresh`` loads
    the flow again (a new runtime, with a routing state that holds no score of the old model). ``draws`` gives the
    random audit its draws: unseeded in service, seeded where a run must be reproducible (a simulation); it
    carries over a reload. ``clock``: the database's own clock when it has one (a simulation), for the moment
    rules see."""

    flow: Flow
    model: LoadedModel
    model_version_id: ModelVersionId | None
    policy: Policy
    state: RoutingState
    project: Project
    novelty: dict[str, Predict]
    champion_id: ModelVersionId | None = None
    draws: np.random.Generator = field(default_factory=np.random.default_rng)
    challenger: Challenger | None = None
    clock: Clock | None = None


@dataclass(frozen=True)
class Challenger:
    """A version beside the champion (``signoff.learning.canary``): in shadow, it scores every case without effect;
    as a canary, it routes its ``share`` of the cases (kept together by ``sticky_by``) with a runtime of its own:
    its model, and a routing state with its own capacity memory and calibration."""

    runtime: FlowRuntime
    status: ModelStatus
    share: float
    sticky_by: str | None

    @property
    def canary(self) -> bool:
        return self.status is ModelStatus.CANARY


def _same(challenger: Challenger | None, found: ModelVersion | None) -> bool:
    """Whether the runtime's challenger is the one the registry holds now (version, status, share, sticky field)."""
    if challenger is None or found is None:
        return challenger is None and found is None
    held = (challenger.runtime.model_version_id, challenger.status, challenger.share, challenger.sticky_by)
    return held == (found.id, found.status, found.canary_share or 0.0, found.canary_sticky_by)


def _challenger(db: Database, runtime: FlowRuntime, found: ModelVersion | None) -> Challenger | None:
    """The registry's shadow or canary loaded beside the champion, warmed up; None when there is none, or when it
    cannot be loaded (logged: a challenger never stops intake)."""
    if found is None:
        return None
    try:
        model = registry.load(runtime.project, runtime.flow, found)
        own = dataclasses.replace(
            runtime, model=model, model_version_id=found.id, state=RoutingState(runtime.policy), challenger=None
        )
        if found.status is ModelStatus.CANARY:  # it routes: it needs its own memory and calibration
            remember(db, own)
            recalibrate_challenger(db, own, found)
    except Exception:  # a broken challenger must not stop the champion
        where = f"{found.status.value} {found.version}"
        log.exception("flow %s: cannot load %s; the champion serves alone", runtime.flow.name, where)
        return None
    return Challenger(own, found.status, found.canary_share or 0.0, found.canary_sticky_by)


def recalibrate_challenger(db: Database, runtime: FlowRuntime, found: ModelVersion) -> None:
    """Certify a canary's learning rules on its own scores of the cases that calibrate the flow (as the gate
    does), never on the champion's."""
    if runtime.policy.learning_rules:
        cases = canary.calibration(db, runtime.project, runtime.flow, found)
        runtime.state.calibrated(*promotion.own_certificates(runtime.policy, runtime.model, cases))


@dataclass(frozen=True)
class _NoModel(LoadedModel):
    """A flow without a model (cold start): every case is unscored, so the policy sends it to review and says why."""

    def score(self, frame: pd.DataFrame) -> Scores:
        return Scores(np.full((len(frame), len(self.labels)), np.nan), [NO_MODEL] * len(frame))


def no_model(flow: Flow) -> LoadedModel:
    return _NoModel(flow.name, flow.labels, registry.NO_MODEL_KIND, "", registry.NO_MODEL_VERSION, None, _unscored)


def _unscored(frame: pd.DataFrame) -> npt.NDArray[np.float64]:
    return np.full((len(frame), 0), np.nan)


def _record(db: Database, flow: Flow, model: LoadedModel | None, actor: str) -> ModelVersionId:
    """Record the flow file's model (or the cold start's stand-in), the policy version and the flow's settings,
    each once: a change is audited by the first process that loads it, not at every start."""
    with db.transaction() as conn:
        now = db.now(conn)
        version_id, events = registry.adopt(conn, flow, model, actor, now)
        last = load_store.last_load(conn, flow.name)
        if not policy_store.has_policy_version(conn, flow.policy_version):
            document = flow.policy_document()
            policy_store.insert_policy_version(
                conn, flow=flow.name, version=flow.policy_version, document=document, now=now
            )
            before = None if last is None else load_store.policy_document(conn, last.policy_version)
            events.append(
                AuditEvent(
                    actor,
                    "policy.registered",
                    "policy_version",
                    flow.policy_version,
                    {"flow": flow.name, "document": document} | change(before, document),
                )
            )
        events += _flow_loaded(conn, flow, last, actor, now)
        record(db, conn, events)
    return version_id


def _flow_loaded(conn: Connection, flow: Flow, last: FlowLoad | None, actor: str, now: datetime) -> list[AuditEvent]:
    """A ``flow.loaded`` event when the flow's settings differ from the last recorded ones (none otherwise). Two
    processes that load the same change race for the same number; the loser's transaction fails and ``_serving``
    tries again, then finds the change recorded."""
    document = without_credentials(flow.model_dump(mode="json"))
    digest = content_hash(document)
    if last is not None and last.digest == digest:
        return []
    seq = 1 if last is None else last.seq + 1
    load_store.add_load(
        conn, flow=flow.name, seq=seq, digest=digest, policy_version=flow.policy_version, document=document, now=now
    )
    data = {"policy_version": flow.policy_version, "digest": digest, "load": seq}
    return [
        AuditEvent(
            actor, "flow.loaded", "flow", flow.name, data | change(None if last is None else last.document, document)
        )
    ]


def _serving(
    db: Database, project: Project, flow: Flow, actor: str
) -> tuple[LoadedModel, ModelVersionId, ModelVersionId | None]:
    """The model that serves the flow, its version id and the champion's id: the registry's champion when it is a
    registered artifact, else (a flow file's model, none, or an artifact that cannot be loaded) the model the flow
    file names, else none at all (cold start)."""
    file_model = load_model(project, flow) if flow.model is not None else None
    try:
        file_id = _record(db, flow, file_model, actor)
    except IntegrityError:  # another process recorded the same versions at the same moment
        file_id = _record(db, flow, file_model, actor)
    top = registry.champion(db, flow)
    if top is not None and top.registered:  # a champion from the flow file is the model the file names now
        try:
            return registry.load(project, flow, top), top.id, top.id
        except ModelError:
            if file_model is None:
                raise
            log.exception("flow %s: cannot load champion %s; serving the flow file's model", flow.name, top.version)
    return file_model or no_model(flow), file_id, None if top is None else top.id


def warm_up(db: Database | None, runtime: FlowRuntime) -> None:
    """Give the routing state its memory, then a first calibration."""
    remember(db, runtime)
    recalibrate(db, runtime)


def remember(db: Database | None, runtime: FlowRuntime) -> None:
    """Give the routing state its memory: the latest cases' confidence under the runtime's model, stored when it
    scored them, else scored again, so that a new champion's capacity rules never rank its cases against the old
    model's scores."""
    flow = runtime.flow
    if db is not None and runtime.state.tracks_history:
        windows = [getattr(rule, "window", 0) for rule in flow.policy]
        with db.transaction(write=False) as conn:
            recent = model_store.recent_cases(conn, flow.name, max(windows))[::-1]
        confidence = np.array([np.nan if r.confidence is None else r.confidence for r in recent], dtype=np.float64)
        others = [i for i, r in enumerate(recent) if r.model_version_id != runtime.model_version_id]
        if others:
            scores = runtime.model.score(frame_of(flow, [recent[i].fields for i in others]))
            top = np.where(scores.valid, np.nan_to_num(scores.probabilities).max(axis=1, initial=0.0), np.nan)
            confidence[others] = top
        kept = confidence[np.isfinite(confidence)]
        runtime.state.observe(
            {rule.name: kept for rule in flow.policy if isinstance(rule, CapacityRule) and rule.score == "confidence"}
        )


@dataclass(frozen=True)
class CalibrationSet:
    """The verified cases the learning rules are certified on (the store's, then the calibration file's), with the
    file's rows the model could not score, which are left out."""

    probabilities: npt.NDArray[np.float64]
    human: list[str]
    segments: dict[str, list[object]]
    members: npt.NDArray[np.float64] | None
    unscored: int = 0
    unscored_reason: str | None = None


class _FileRows(NamedTuple):
    rows: list[Fields]
    probabilities: list[list[float]]
    human: list[str]
    unscored: int
    unscored_reason: str | None


def calibration_set(db: Database | None, runtime: FlowRuntime) -> CalibrationSet:
    """The verified labels of this model version (from the store, when there is one) plus the flow's calibration
    file (read and scored once per runtime)."""
    flow = runtime.flow
    verified: list[Verified] = []
    if db is not None:
        with db.transaction(write=False) as conn:
            version_id = runtime.model_version_id
            if version_id is None:  # an offline replay: use the recorded version of this model, if any
                found = policy_store.find_model_version(conn, flow.name, runtime.model.version)
                version_id = found[0] if found else None
            if version_id is not None:
                verified = case_store.verified(conn, flow.name, version_id)
    rows = [v.fields for v in verified]
    probabilities = [v.probabilities for v in verified]
    human = [v.label for v in verified]
    unscored, reason = 0, None
    if flow.calibration.file is not None:
        file = runtime.state.remember_file(lambda: _calibration_rows(runtime))
        rows, probabilities, human = rows + file.rows, probabilities + file.probabilities, human + file.human
        unscored, reason = file.unscored, file.unscored_reason
    matrix = np.array(probabilities, dtype=np.float64).reshape(len(human), len(flow.labels))
    segments: dict[str, list[object]] = {name: [r.get(name) for r in rows] for name in flow.fields}
    members = runtime.model.members(frame_of(flow, rows)) if runtime.policy.needs_members and rows else None
    return CalibrationSet(matrix, human, segments, members, unscored, reason)


def recalibrate(db: Database | None, runtime: FlowRuntime) -> None:
    """Certify the learning rules again on ``calibration_set``."""
    if runtime.policy.learning_rules:
        found = calibration_set(db, runtime)
        runtime.state.calibrated(
            *calibrate.certificates(runtime.policy, found.probabilities, found.human, found.segments, found.members)
        )


def _calibration_rows(runtime: FlowRuntime) -> _FileRows:
    """The calibration file's validly scored cases: their fields, probabilities and true labels; and how many
    the model could not score, with the first one's reason."""
    found = calibration_file(runtime.project, runtime.flow, runtime.model)
    keep = found.scores.valid
    records = found.frame.to_dict(orient="records")
    rows = [{str(name): value for name, value in r.items()} for r, k in zip(records, keep, strict=True) if k]
    reason = next((p for p in found.scores.problems if p is not None), None)
    return _FileRows(
        rows,
        [list(p) for p in found.scores.probabilities[keep]],
        [h for h, k in zip(found.labels, keep, strict=True) if k],
        int((~keep).sum()),
        reason,
    )


def with_alpha(
    runtime: FlowRuntime, alpha: float, calibration: CalibrationSet, flow: Flow | None = None
) -> tuple[Policy, PolicyState]:
    """The policy of ``flow`` (default: the runtime's) with every learning rule at ``alpha``, certified on
    ``calibration`` (no new scoring), and the state it routes with: the runtime's memory and the new certificates."""
    flow = runtime.flow if flow is None else flow
    rules = [r.model_copy(update={"alpha": alpha}) if hasattr(r, "alpha") else r for r in flow.policy]
    return with_rules(runtime, flow.model_copy(update={"policy": rules}), calibration, flow is runtime.flow)


def with_rules(
    runtime: FlowRuntime, flow: Flow, calibration: CalibrationSet | None, same_profile: bool = False
) -> tuple[Policy, PolicyState]:
    """The policy of ``flow`` (the runtime's flow with other rules, see ``config.with_policy``), its learning
    rules certified on ``calibration`` (no new scoring), and the state it routes with: the runtime's memory and
    the new certificates. ``same_profile``: its out-of-distribution references are the runtime's (not read again)."""
    policy = Policy(flow, runtime.policy.profile if same_profile else calibrate.profile(runtime.project, flow))
    if calibration is None:
        if policy.learning_rules:
            raise ValueError("a policy with learning rules needs a calibration set")
        return policy, runtime.state.snapshot()
    certificates, quantiles = calibrate.certificates(
        policy, calibration.probabilities, calibration.human, calibration.segments, calibration.members
    )
    return policy, dataclasses.replace(runtime.state.snapshot(), certificates=certificates, quantiles=quantiles)


def load(
    project: Project,
    flow: Flow,
    db: Database | None = None,
    actor: str = "system",
    draws: np.random.Generator | None = None,
) -> FlowRuntime:
    """Load the model that serves a flow and its policy, and warm its routing state. With a store, the flow
    file's model and the policy version are recorded (once; safe to repeat) and the registry's champion serves;
    without one (an offline replay), the flow file's model serves and nothing is recorded. ``draws``: the random
    audit's generator (by default a fresh, unseeded one)."""
    policy = Policy(flow, calibrate.profile(project, flow))
    version_id = champion_id = None
    if db is not None:
        model, version_id, champion_id = _serving(db, project, flow, actor)
    else:
        model = load_model(project, flow) if flow.model is not None else no_model(flow)
    novelty = {
        rule.name: entry_point(rule.novelty.entry_point, f"flows.{flow.name}.policy: rule {rule.name!r} novelty")
        for rule in flow.policy
        if isinstance(rule, OutOfDistributionRule) and rule.novelty is not None
    }
    draws = np.random.default_rng() if draws is None else draws
    clock = None if db is None else db.clock
    runtime = FlowRuntime(
        flow, model, version_id, policy, RoutingState(policy), project, novelty, champion_id, draws, clock=clock
    )
    warm_up(db, runtime)
    if db is None:
        return runtime
    return dataclasses.replace(runtime, challenger=_challenger(db, runtime, registry.challenger(db, flow)))


def prepare(
    db: Database, project: Project, actor: str = "system", draws: np.random.Generator | None = None
) -> dict[str, FlowRuntime]:
    """Load every flow of the project, ready to take cases; ``draws`` seeds their random audit (see ``load``)."""
    return {name: load(project, flow, db, actor, draws) for name, flow in project.flows.items()}


def refresh(db: Database, runtimes: MutableMapping[str, FlowRuntime]) -> None:
    """Keep each flow current without a restart: load it again when the registry's champion changed (requests
    already under way finish with the runtime they took), load its shadow or canary anew when that changed, and
    recalibrate it when its last calibration is older than its ``calibration.min_refresh``. Requests never wait
    for it: the server calls it on a timer."""
    for name, runtime in list(runtimes.items()):
        top = registry.champion(db, runtime.flow)
        current = None if top is None else top.id
        if current != runtime.champion_id:
            try:
                runtimes[name] = load(runtime.project, runtime.flow, db, draws=runtime.draws)
            except Exception:  # a broken new champion must not stop the server: keep serving, say why, once
                log.exception("flow %s: cannot serve the new champion; keeping model %s", name, runtime.model.version)
                runtimes[name] = dataclasses.replace(runtime, champion_id=current)
            continue
        found = registry.challenger(db, runtime.flow)
        if not _same(runtime.challenger, found):  # a shadow or canary began or ended: every process follows
            runtimes[name] = runtime = dataclasses.replace(runtime, challenger=_challenger(db, runtime, found))
        stale = runtime.policy.learning_rules and runtime.state.stale(runtime.flow.calibration.min_refresh)
        if stale:
            recalibrate(db, runtime)
            if runtime.challenger is not None and runtime.challenger.canary and found is not None:
                recalibrate_challenger(db, runtime.challenger.runtime, found)
