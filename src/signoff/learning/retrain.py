"""Retraining a flow: its usable labels -> a recorded training set -> a trained model -> metrics on the held-out
set -> a candidate in the registry (and in MLflow when configured), as a run that survives a killed worker.

A run is a row of ``retrain_runs``: queued, then running under an attempt number (a fencing token) while its
worker beats ``heartbeat_at``, then done or failed. Every change of the row commits with its audit event
(``retrain.started``, ``retrain.step``, ``retrain.finished`` or ``retrain.failed``). A worker killed mid-run leaves
the row running; once its heartbeat is older than ``stale_after`` the next worker or ``signoff retrain`` takes the
run over and completes it from what it recorded: the training set, once built, is loaded rather than built again,
and the steps after it are deterministic (the default trainer has a fixed seed; the registry is idempotent by
fingerprint), so a version registered just before the kill is found again rather than registered twice. Nothing
is ever half-registered: the registry writes the artifact first and the row with its audit event in one
transaction. A worker whose run was taken over stops at its next step without writing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from signoff import audit
from signoff.config import Flow, Project
from signoff.domain import AuditEvent
from signoff.errors import Conflict, PromotionRefused
from signoff.learning import STALE_AFTER, schedule, tracking
from signoff.learning.records import Label, TrainingSet
from signoff.periodic import Periodic
from signoff.store import retrain_runs as store
from signoff.store.database import Database

log = logging.getLogger(__name__)

BEATS_PER_STALE = 5  # heartbeats within one stale_after: a few missed beats never lose a live run
Step = Literal["labels", "dataset", "train", "assess", "register", "mlflow"]
Progress = Callable[[str], None]


class Registered(Protocol):
    """What a retrain reads of a registered model version."""

    @property
    def id(self) -> int: ...
    @property
    def version(self) -> str: ...
    @property
    def uri(self) -> str: ...
    @property
    def status(self) -> str: ...


@dataclass(frozen=True)
class Steps:
    """The functions a retrain composes, with the signatures of Signoff's own (``signoff_steps``); tests pass a
    small pipeline of their own to exercise the run machinery."""

    labels: Callable[..., list[Label]]  # (conn, flow name, *, until)
    build: Callable[..., TrainingSet | None]  # (db, flow, labels, *, until, actor, policy_version)
    load: Callable[[Database, Flow, int], TrainingSet]
    frames: Callable[[Database, Flow, TrainingSet], Any]
    holdout: Callable[[Database, Flow, Sequence[Label]], Any]
    trainer: Callable[[Flow], Callable[[Any], Any]]
    assess: Callable[[Any, Any], dict[str, float]]
    register: Callable[..., Registered]  # (db, project, flow, model, *, training_set, metrics, parent, actor)
    champion: Callable[[Database, Flow], Registered | None]
    versions: Callable[[Database, Flow], Sequence[Registered]]


def signoff_steps() -> Steps:
    """Signoff's own steps."""
    from signoff.learning import assess, datasets, labels, registry, trainers

    return Steps(
        labels=labels.training_labels,
        build=datasets.build,
        load=datasets.load,
        frames=datasets.frames,
        holdout=datasets.holdout_data,
        trainer=trainers.trainer_of,
        assess=assess.metrics,
        register=registry.register,
        champion=registry.champion,
        versions=registry.versions,
    )


@dataclass(frozen=True)
class RetrainResult:
    """What a run did: the version it registered, or the reason it trained nothing, or the error it failed on."""

    run_id: int
    flow: str
    status: Literal["done", "failed"]
    labels: int = 0
    training_set: TrainingSet | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    version: Registered | None = None
    reason: str | None = None  # why nothing was trained (too few labels)
    warning: str | None = None  # e.g. MLflow failed; the retrain still counts
    error: str | None = None
    resumed: bool = False  # it took over a run an earlier worker left unfinished
    new_version: bool = False  # False when the registry already held this model (same fingerprint)


class RunLost(Conflict):
    """Another worker took this retrain run over (this worker's heartbeat went stale); this one stops."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        super().__init__(f"retrain run {run_id} was taken over by another worker")


@dataclass(frozen=True)
class _Claim:
    id: int
    flow: str
    attempt: int
    created_at: datetime
    training_set_id: int | None


@dataclass(frozen=True)
class Worker:
    """Who runs retrains, and how: the actor their audit events name, the steps (Signoff's own unless given; made
    before any claim, so a run is never claimed by a process that cannot run it), the seconds without a heartbeat
    after which a running retrain counts as abandoned, and where progress is told."""

    actor: str
    steps: Steps = field(default_factory=lambda: signoff_steps())  # looked up when made: a process may replace it
    stale_after: float = STALE_AFTER
    progress: Progress | None = None


def retrain(db: Database, project: Project, flow: Flow, worker: Worker) -> RetrainResult:
    """Retrain ``flow`` now: the flow's queued or abandoned run if there is one (completing it), else a new one.
    A run another worker is still beating is theirs: ``Conflict``."""
    run_id = _request(db, flow.name, worker.actor, expected_last=None)
    assert run_id is not None  # an unconditional request always finds or makes a run
    claim = _claim(db, run_id, worker, reason="requested")
    if claim is None:
        raise Conflict(
            f"flow {flow.name!r} is being retrained by another worker (run {run_id}); it is taken over if its "
            f"heartbeat stops for {worker.stale_after:g} s"
        )
    return _run(db, project, flow, claim, worker)


def run_due(db: Database, project: Project, worker: Worker) -> list[RetrainResult]:
    """One pass of the worker: for each flow, run its queued or abandoned retrain, or start one its schedule makes
    due. Several workers may pass at once: each run is claimed by one of them."""
    results = []
    for flow in project.flows.values():
        found = _due_run(db, flow, worker)
        if found is None:
            continue
        run_id, reason = found
        claim = _claim(db, run_id, worker, reason=reason)
        if claim is None:
            continue
        try:
            results.append(_run(db, project, flow, claim, worker))
        except RunLost as lost:  # this worker stalled and another took the run over: theirs to finish
            log.warning("%s", lost)
    return results


def _due_run(db: Database, flow: Flow, worker: Worker) -> tuple[int, str] | None:
    """The flow's run to work on now and why: an unfinished one, or a new one its schedule makes due."""
    plan = flow.learning.schedule
    with db.transaction(write=False) as conn:
        active = store.active(conn, flow.name)
        if active is not None:
            return active.id, "unfinished"
        if plan.every is None and plan.after_labels is None:
            return None
        last, now = store.latest(conn, flow.name), db.now(conn)
        new_labels = None
        if plan.after_labels is not None:
            usable = worker.steps.labels(conn, flow.name, until=now)
            new_labels = sum(1 for label in usable if last is None or label.labelled_at > last.created_at)
    reason = schedule.due(
        plan, now=now, last_requested=None if last is None else last.created_at, new_labels=new_labels
    )
    if reason is None:
        return None
    run_id = _request(db, flow.name, worker.actor, expected_last=0 if last is None else last.id)
    return None if run_id is None else (run_id, reason)


def _request(db: Database, flow: str, actor: str, *, expected_last: int | None) -> int | None:
    """The flow's active run, or a new queued one. With ``expected_last`` (the newest run the caller saw), a new
    run only if none was requested since, else None: two workers that found the same retrain due start one."""
    for _ in range(3):  # a run finished or requested between the read and the insert: look again
        with db.transaction() as conn:
            active = store.active(conn, flow)
            if active is not None:
                return int(active.id)
            latest = store.latest(conn, flow)
            last = 0 if latest is None else int(latest.id)
            if expected_last is not None and last != expected_last:
                return None
            run_id = store.enqueue(db, conn, flow=flow, requested_by=actor, last_id=last, now=db.now(conn))
            if run_id is not None:
                return run_id
    raise Conflict(f"could not request a retrain of flow {flow!r}: runs keep changing; try again")


def _claim(db: Database, run_id: int, worker: Worker, *, reason: str) -> _Claim | None:
    with db.transaction() as conn:
        now = db.now(conn)
        row = store.claim(db, conn, run_id, now=now, stale_before=now - timedelta(seconds=worker.stale_after))
        if row is None:
            return None
        data = {"flow": row.flow, "attempt": row.attempt, "reason": reason, "requested_by": row.requested_by}
        if row.attempt > 1:
            data["resumed_at_step"] = row.step
        event = AuditEvent(worker.actor, "retrain.started", "retrain_run", str(row.id), data)
        audit.record(db, conn, [event], now)
    return _Claim(row.id, row.flow, row.attempt, row.created_at, row.training_set_id)


def _run(db: Database, project: Project, flow: Flow, claim: _Claim, worker: Worker) -> RetrainResult:
    steps, actor = worker.steps, worker.actor
    say = worker.progress or (lambda _message: None)
    beat_every = worker.stale_after / BEATS_PER_STALE
    heartbeat = Periodic(f"retrain {claim.id} heartbeat", lambda: _beat(db, claim), beat_every)
    heartbeat.start()
    current: Step = "labels"
    try:
        until = claim.created_at  # the window ends when the run was requested, whichever worker completes it
        _step(db, claim, actor, current)
        say(f"Reading the usable labels of {flow.name} up to {until:%Y-%m-%d %H:%M:%S} UTC")
        with db.transaction(write=False) as conn:
            labels = steps.labels(conn, flow.name, until=until)
        current = "dataset"
        _step(db, claim, actor, current, labels=len(labels))
        if claim.training_set_id is not None:
            say(f"Loading training set {claim.training_set_id}, recorded before this run was taken over")
            training_set: TrainingSet | None = steps.load(db, flow, claim.training_set_id)
        else:
            say(f"Building a training set from {len(labels)} labels")
            training_set = steps.build(db, flow, labels, until=until, actor=actor, policy_version=flow.policy_version)
        if training_set is None:
            reason = f"too few labels: {len(labels)} usable, min_labels is {flow.learning.min_labels}"
            return _finish(db, claim, actor, RetrainResult(claim.id, flow.name, "done", len(labels), reason=reason))
        current = "train"
        _step(db, claim, actor, current, training_set_id=training_set.id)
        say(f"Training on {len(training_set.train)} labels (validating on {len(training_set.validation)})")
        model = steps.trainer(flow)(steps.frames(db, flow, training_set))
        current = "assess"
        _step(db, claim, actor, current)
        say("Evaluating on the held-out set")
        metrics = steps.assess(model, steps.holdout(db, flow, labels))
        current = "register"
        _step(db, claim, actor, current, metrics=metrics)
        champion = steps.champion(db, flow)
        known = {v.id for v in steps.versions(db, flow)}
        version = steps.register(
            db,
            project,
            flow,
            model,
            training_set=training_set,
            metrics=metrics,
            parent=None if champion is None else champion.id,
            actor=actor,
        )
        if flow.learning.gate.auto_promote:
            say("Weighing the candidate against the champion (learning.gate.auto_promote)")
            _auto_promote(db, project, flow, version.version, actor)
        warning = None
        if flow.learning.mlflow is not None:
            current = "mlflow"
            _step(db, claim, actor, current, model_version_id=version.id)
            say(f"Logging to MLflow at {flow.learning.mlflow.tracking_uri}")
            warning = _to_mlflow(db, project, flow, claim, steps, training_set, metrics, version)
        resumed = claim.attempt > 1
        result = RetrainResult(
            claim.id,
            flow.name,
            "done",
            len(labels),
            training_set,
            metrics,
            version,
            warning=warning,
            resumed=resumed,
            new_version=version.id not in known,
        )
        return _finish(db, claim, actor, result)
    except RunLost:
        raise
    except Exception as error:  # a step's failure ends the run as failed, with the reason recorded and audited
        log.exception("retrain run %s of %s failed at step %s", claim.id, flow.name, current)
        return _fail(db, claim, actor, current, f"{type(error).__name__}: {error}")
    finally:
        heartbeat.stop()


def _auto_promote(db: Database, project: Project, flow: Flow, version: str, actor: str) -> None:
    """Promote the run's candidate if the promotion gate passes; a refusal is audited by the gate, and the run
    is done either way (the candidate stays registered)."""
    from signoff.learning import promotion

    try:
        promotion.promote(db, project, flow, version, actor=actor, reason="retrained (learning.gate.auto_promote)")
    except PromotionRefused as refused:
        log.info("%s", refused)


def _beat(db: Database, claim: _Claim) -> None:
    with db.transaction() as conn:
        if not store.advance(conn, claim.id, claim.attempt, heartbeat_at=db.now(conn)):
            log.warning("retrain run %s was taken over by another worker", claim.id)


def _advance(db: Database, claim: _Claim, event: AuditEvent, **values: Any) -> None:
    """Change the run and record ``event`` in one transaction, if this worker still holds the run."""
    with db.transaction() as conn:
        now = db.now(conn)
        if not store.advance(conn, claim.id, claim.attempt, heartbeat_at=now, **values):
            raise RunLost(claim.id)
        audit.record(db, conn, [event], now)


def _step(db: Database, claim: _Claim, actor: str, step: Step, **recorded: Any) -> None:
    """Enter ``step``; ``recorded`` is what the previous step produced (stored on the run where it has a column)."""
    columns = {k: v for k, v in recorded.items() if k in ("training_set_id", "model_version_id")}
    data = {"flow": claim.flow, "step": step, "attempt": claim.attempt, **recorded}
    _advance(db, claim, AuditEvent(actor, "retrain.step", "retrain_run", str(claim.id), data), step=step, **columns)


def _finish(db: Database, claim: _Claim, actor: str, result: RetrainResult) -> RetrainResult:
    version = result.version
    data = {
        "flow": claim.flow,
        "training_set_id": None if result.training_set is None else result.training_set.id,
        "model_version_id": None if version is None else version.id,
        "version": None if version is None else version.version,
        "metrics": result.metrics,
        "reason": result.reason,
        "warning": result.warning,
    }
    _advance(
        db,
        claim,
        AuditEvent(actor, "retrain.finished", "retrain_run", str(claim.id), data),
        status="done",
        finished_at=_now(db),
        training_set_id=data["training_set_id"],
        model_version_id=data["model_version_id"],
        warning=result.warning,
    )
    return result


def _fail(db: Database, claim: _Claim, actor: str, step: Step, error: str) -> RetrainResult:
    data = {"flow": claim.flow, "step": step, "error": error}
    event = AuditEvent(actor, "retrain.failed", "retrain_run", str(claim.id), data)
    _advance(db, claim, event, status="failed", finished_at=_now(db), error=error)
    return RetrainResult(claim.id, claim.flow, "failed", error=error, resumed=claim.attempt > 1)


def _now(db: Database) -> datetime:
    with db.transaction(write=False) as conn:
        return db.now(conn)


def _to_mlflow(
    db: Database,
    project: Project,
    flow: Flow,
    claim: _Claim,
    steps: Steps,
    training_set: TrainingSet,
    metrics: dict[str, float],
    version: Registered,
) -> str | None:
    """Log the run and its version to MLflow and move the aliases; a failure is a warning, never the run's: the
    version is registered in Signoff whatever MLflow says."""
    assert flow.learning.mlflow is not None
    try:
        mlflow_run = tracking.log_retrain(
            flow.learning.mlflow,
            flow.name,
            run_id=claim.id,
            training_set=training_set,
            metrics=metrics,
            version=tracking.Logged(version.id, version.version, project.resolve(version.uri)),
            trainer=flow.learning.trainer or "default",
        )
        tracking.sync_aliases(flow.learning.mlflow, flow.name, tracking.alias_targets(steps.versions(db, flow)))
    except Exception as error:  # noqa: BLE001  # MLflow down or refusing must not undo the retrain
        warning = f"MLflow: {type(error).__name__}: {error}"
        log.warning("retrain run %s of %s: %s", claim.id, flow.name, warning)
        return warning
    with db.transaction() as conn:
        store.advance(conn, claim.id, claim.attempt, mlflow_run_id=mlflow_run)
    return None


def sync_mlflow_aliases(db: Database, flow: Flow, steps: Steps | None = None) -> None:
    """Move the MLflow aliases after a status change (a promotion); nothing without an MLflow tracking URI."""
    if flow.learning.mlflow is not None:
        versions = (steps or signoff_steps()).versions(db, flow)
        tracking.sync_aliases(flow.learning.mlflow, flow.name, tracking.alias_targets(versions))
