"""The model registry: every model version of a flow with its artifact, lineage, held-out metrics and status.

A registered version's artifact is a skops file under the project's ``models/<flow>/`` folder, named by the
version's fingerprint. skops files are not byte-stable (the same model dumped twice may differ), so the registry
identifies a model by its **fingerprint** instead: the SHA-256 of a canonical JSON document holding the flow, its
labels, the training set's SHA-256, the trainer (the model's module-qualified class), its parameters (those that are
plain values; others by their type) and the model's class probabilities on a fixed probe table built from the flow's
fields with a seeded generator, each printed with 6 decimals. A deterministic trainer retrained on the same set
gives the same fingerprint, and registering it again returns the version already recorded. The artifact's own
SHA-256 is recorded too, and checked before the file is loaded.

Registered versions are named ``<flow>-<n>``, n counting the flow's recorded versions (the flow files' models
included), so names are short, ordered and never reused. A flow file's model is recorded with no fingerprint and
no lineage; the first time a flow file names a model, that model becomes the champion (editing the flow file is
the owner's explicit choice).
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from signoff.audit import record
from signoff.config import Flow, Project
from signoff.domain import AuditEvent, CaseId, ModelStatus, ModelVersionId, content_hash
from signoff.errors import Conflict, InvalidInput, ModelError, NotFound, Problem
from signoff.learning import tracking
from signoff.learning.records import TrainingSet
from signoff.models import LoadedModel, load_model
from signoff.models.adapters import file_sha256, load_sklearn
from signoff.models.frames import frame_of
from signoff.store import cases as case_store
from signoff.store import model_versions as store
from signoff.store.database import Database
from signoff.store.records import Prediction

log = logging.getLogger(__name__)

NO_MODEL_KIND = "none"
"""The kind of the row that stands for "no model" while a flow has none (cold start): predictions need a version."""
PROBE_ROWS = 32
ROUNDING = 6


@dataclass(frozen=True)
class Example:
    """One case a version was trained or validated on, with its label and where the label came from."""

    case_id: CaseId
    label: str
    source: str
    part: str


@dataclass(frozen=True)
class Lineage:
    """What a version learned from: its training set, that set's window and every example."""

    training_set_id: int
    window_start: datetime | None
    window_end: datetime | None
    sha256: str | None
    examples: tuple[Example, ...]

    @property
    def sources(self) -> dict[str, int]:
        """How many examples each label source gave."""
        return dict(sorted(Counter(e.source for e in self.examples).items()))


@dataclass(frozen=True)
class ModelVersion:
    """One recorded model version of a flow: a flow file's model (no fingerprint, no lineage) or a registered one."""

    id: ModelVersionId
    flow: str
    version: str
    kind: str
    uri: str
    sha256: str | None
    status: ModelStatus
    parent_id: ModelVersionId | None
    training_set_id: int | None
    metrics: Mapping[str, float]
    fingerprint: str | None
    created_at: datetime
    created_by: str | None
    status_changed_at: datetime | None
    status_changed_by: str | None
    lineage: Lineage | None = field(default=None, compare=False)
    canary_share: float | None = None
    canary_sticky_by: str | None = None

    @property
    def registered(self) -> bool:
        """Whether the registry wrote its artifact (otherwise it is a flow file's model, or the cold start's)."""
        return self.fingerprint is not None


def _version(row: Any, lineage: Lineage | None = None) -> ModelVersion:
    return ModelVersion(
        id=ModelVersionId(row.id),
        flow=row.flow,
        version=row.version,
        kind=row.kind,
        uri=row.uri,
        sha256=row.sha256,
        status=ModelStatus(row.status),
        parent_id=None if row.parent_id is None else ModelVersionId(row.parent_id),
        training_set_id=row.training_set_id,
        metrics=dict(row.metrics or {}),
        fingerprint=row.fingerprint,
        created_at=row.created_at,
        created_by=row.created_by,
        status_changed_at=row.status_changed_at,
        status_changed_by=row.status_changed_by,
        lineage=lineage,
        canary_share=row.canary_share,
        canary_sticky_by=row.canary_sticky_by,
    )


# ---- fingerprint -----------------------------------------------------------------------------------------------


def probe_frame(flow: Flow, rows: int = PROBE_ROWS) -> pd.DataFrame:
    """A fixed table of made-up cases in the flow's fields (seeded): what the fingerprint asks a model to score.
    Numbers span several magnitudes within the field's bounds; categories and booleans take their values."""
    rng = np.random.default_rng(0)
    columns: dict[str, list[Any]] = {}
    for name, spec in flow.fields.items():
        if spec.type in ("number", "integer"):
            values = rng.normal(0.0, 1.0, rows) * 10.0 ** rng.integers(0, 5, rows)
            low = -math.inf if spec.min is None else spec.min
            high = math.inf if spec.max is None else spec.max
            values = np.clip(values, low, high)
            columns[name] = [float(round(v)) if spec.type == "integer" else float(v) for v in values]
        elif spec.type == "category":
            assert spec.values is not None
            columns[name] = [spec.values[i] for i in rng.integers(0, len(spec.values), rows)]
        elif spec.type == "boolean":
            columns[name] = [bool(v) for v in rng.integers(0, 2, rows)]
        else:
            columns[name] = [("", "a", "probe", "a longer probe text")[i] for i in rng.integers(0, 4, rows)]
    return frame_of(flow, [{name: columns[name][i] for name in columns} for i in range(rows)])


def _plain(value: Any) -> Any:
    """A parameter as JSON: plain values as they are, anything else by its type (a repr may hold addresses)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return format(value, ".12g")
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return f"{type(value).__module__}.{type(value).__qualname__}"


def fingerprint(flow: Flow, model: Any, training_set_sha256: str) -> str:
    """The model's stable SHA-256 (see the module's docstring for what it covers)."""
    probabilities = np.asarray(model.predict_proba(probe_frame(flow)), dtype=np.float64)
    params = model.get_params(deep=True) if hasattr(model, "get_params") else {}
    document = {
        "flow": flow.name,
        "labels": list(flow.labels),
        "classes": [str(c) for c in model.classes_],
        "training_set": training_set_sha256,
        "trainer": f"{type(model).__module__}.{type(model).__qualname__}",
        "params": {str(k): _plain(v) for k, v in sorted(params.items())},
        "probabilities": [[format(float(p), f".{ROUNDING}f") for p in row] for row in probabilities],
    }
    return content_hash(document)


# ---- registering -----------------------------------------------------------------------------------------------


def _check(flow: Flow, model: Any, metrics: Mapping[str, float]) -> None:
    problems = []
    if not hasattr(model, "predict_proba") or not hasattr(model, "classes_"):
        problems.append(Problem("model", "not a fitted classifier with predict_proba and classes_"))
    elif sorted(str(c) for c in model.classes_) != sorted(flow.labels):
        classes = [str(c) for c in model.classes_]
        problems.append(Problem("model", f"its classes {classes} are not the flow's labels {list(flow.labels)}"))
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            problems.append(Problem(f"metrics.{name}", f"must be a finite number, not {value!r}"))
    if problems:
        raise InvalidInput(problems, f"cannot register a model for flow {flow.name!r}")


def _dump(model: Any, path: Path) -> Path:
    """The model as a skops file beside ``path`` (a temporary name), flushed to disk; the caller renames it."""
    import skops.io as sio

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    sio.dump(model, temporary)
    with temporary.open("rb") as handle:
        os.fsync(handle.fileno())
    return temporary


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _next_name(conn: Connection, flow: str) -> str:
    taken = store.names(conn, flow)
    n = len(taken) + 1
    while f"{flow}-{n}" in taken:
        n += 1
    return f"{flow}-{n}"


def register(
    db: Database,
    project: Project,
    flow: Flow,
    model: Any,
    *,
    training_set: TrainingSet,
    metrics: dict[str, float],
    parent: int | None,
    actor: str,
) -> ModelVersion:
    """Record a trained model as a candidate: its artifact first (written under a temporary name), then in one
    transaction the row and its ``model.registered`` event, the artifact renamed into place just before the
    commit. A crash leaves at most an unreferenced file, never a row without its artifact. The same fingerprint
    registered again returns the version already recorded."""
    _check(flow, model, metrics)
    print_ = fingerprint(flow, model, training_set.sha256)
    with db.transaction(write=False) as conn:
        found = store.by_fingerprint(conn, flow.name, print_)
    if found is not None:
        return _version(found)
    relative = f"models/{flow.name}/{print_[:16]}.skops"
    path = project.resolve(relative)
    temporary = _dump(model, path)
    try:
        sha = file_sha256(temporary)
        for attempt in range(3):
            try:
                with db.transaction() as conn:
                    found = store.by_fingerprint(conn, flow.name, print_)
                    if found is not None:
                        return _version(found)
                    if parent is not None and store.row_by_id(conn, flow.name, parent) is None:
                        raise NotFound("model version", f"{flow.name}/{parent}")
                    now, name = db.now(conn), _next_name(conn, flow.name)
                    values = {
                        "flow": flow.name,
                        "version": name,
                        "kind": "sklearn",
                        "uri": relative,
                        "sha256": sha,
                        "labels": list(flow.labels),
                        "created_at": now,
                        "status": ModelStatus.CANDIDATE.value,
                        "parent_id": parent,
                        "training_set_id": training_set.id,
                        "metrics": {k: float(v) for k, v in metrics.items()},
                        "fingerprint": print_,
                        "created_by": actor,
                        "status_changed_at": now,
                        "status_changed_by": actor,
                    }
                    version_id = store.insert_version(conn, values)
                    data = {k: values[k] for k in ("flow", "version", "status", "fingerprint", "sha256", "uri")}
                    data |= {k: values[k] for k in ("training_set_id", "parent_id", "metrics")}
                    record(db, conn, [AuditEvent(actor, "model.registered", "model_version", str(version_id), data)])
                    temporary.replace(path)
                    _sync_folder(path.parent)
                    row = store.row(conn, flow.name, name)
                return _version(row)
            except IntegrityError:  # another process took the name or registered the same model meanwhile
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")
    finally:
        temporary.unlink(missing_ok=True)


# ---- reading ---------------------------------------------------------------------------------------------------


def versions(db: Database, flow: Flow) -> list[ModelVersion]:
    """Every recorded version of the flow, newest first (not the cold start's stand-in for "no model")."""
    with db.transaction(write=False) as conn:
        return [_version(r) for r in store.rows(conn, flow.name) if r.kind != NO_MODEL_KIND]


def lineage(conn: Connection, training_set_id: int) -> Lineage:
    """The training set a version was trained on, read from the training set tables: its window and examples."""
    found, examples = store.lineage(conn, training_set_id)
    return Lineage(
        training_set_id=training_set_id,
        window_start=None if found is None else found.window_start,
        window_end=None if found is None else found.window_end,
        sha256=None if found is None else found.sha256,
        examples=tuple(Example(CaseId(e.case_id), e.label, e.source, e.part) for e in examples),
    )


@dataclass(frozen=True)
class TrainedOn:
    """A summary of a version's lineage, for pages: its training set, window and examples per label source."""

    training_set_id: int
    window_start: datetime | None
    window_end: datetime | None
    sources: dict[str, int]

    @property
    def examples(self) -> int:
        return sum(self.sources.values())


def trained_on(db: Database, flow: Flow) -> dict[str, TrainedOn]:
    """What each version of the flow trained on (the versions with a recorded training set), by version name."""
    found: dict[str, TrainedOn] = {}
    with db.transaction(write=False) as conn:
        if not any(v.training_set_id is not None for v in store.rows(conn, flow.name)):
            return found
        for r in store.source_counts(conn, flow.name):
            summary = found.setdefault(r.version, TrainedOn(r.training_set_id, r.window_start, r.window_end, {}))
            summary.sources[r.source] = int(r.examples)
    return found


def version(db: Database, flow: Flow, version: str) -> ModelVersion:
    """One version with its lineage (when it was trained on a recorded training set)."""
    return _read(db, flow, version, with_lineage=True)


def _read(db: Database, flow: Flow, name: str, *, with_lineage: bool = False) -> ModelVersion:
    with db.transaction(write=False) as conn:
        found = store.row(conn, flow.name, name)
        if found is None:
            raise NotFound("model version", f"{flow.name}/{name}")
        trained = with_lineage and found.training_set_id is not None
        return _version(found, lineage(conn, found.training_set_id) if trained else None)


def champion(db: Database, flow: Flow) -> ModelVersion | None:
    """The version that serves the flow, if it has one."""
    with db.transaction(write=False) as conn:
        found = store.champion_row(conn, flow.name)
    return None if found is None else _version(found)


def challenger(db: Database, flow: Flow) -> ModelVersion | None:
    """The version beside the champion, in shadow or canary, if the flow has one."""
    with db.transaction(write=False) as conn:
        found = store.challenger_row(conn, flow.name)
    return None if found is None else _version(found)


# ---- status ----------------------------------------------------------------------------------------------------


def mirror_aliases(db: Database, flow: Flow) -> str | None:
    """Point the flow's MLflow aliases ``champion`` and ``challenger`` at the versions that now hold those roles,
    when the flow names a tracking URI. MLflow is a mirror of this registry: a failure is returned (and logged) as
    a warning, never undoing what changed here."""
    spec = flow.learning.mlflow
    if spec is None:
        return None
    try:
        tracking.sync_aliases(spec, flow.name, tracking.alias_targets(versions(db, flow)))
    except Exception as error:  # noqa: BLE001  # MLflow down or refusing must not undo a status change
        warning = f"MLflow: {type(error).__name__}: {error}"
        log.warning("flow %s: the MLflow aliases were not moved: %s", flow.name, warning)
        return warning
    return None


def set_status(
    db: Database,
    flow: Flow,
    version: str,
    status: ModelStatus | str,
    *,
    actor: str,
    reason: str,
    events: Sequence[AuditEvent] = (),
    canary: tuple[float, str | None] | None = None,
    mirror: bool = True,
) -> ModelVersion:
    """Move a version to ``status``, audited (``model.status_changed`` with the reason, and ``events``: what the
    caller decided it on); a new champion retires the previous one in the same transaction. Setting the status it
    already has changes nothing. ``canary``: a canary's share and sticky field, recorded with its status. With
    MLflow configured, its aliases then follow (``mirror_aliases``; a failure there is logged, the change stands),
    unless ``mirror`` is False: for a caller that moves them itself, later."""
    try:
        wanted = ModelStatus(status)
    except ValueError:
        choices = ", ".join(s.value for s in ModelStatus)
        raise InvalidInput([Problem("status", f"{status!r} is not one of {choices}")]) from None
    if not reason.strip():
        raise InvalidInput([Problem("reason", "say why the status changes (it is kept in the audit trail)")])
    with db.transaction() as conn:
        store.lock_flow(conn, flow.name)  # one status change of a flow at a time: never two champions
        found = store.row(conn, flow.name, version)
        if found is None:
            raise NotFound("model version", f"{flow.name}/{version}")
        if found.kind == NO_MODEL_KIND:
            raise Conflict(f"{version!r} stands for the flow having no model; it has no status to change")
        if found.status == wanted.value:
            return _version(found)
        now = db.now(conn)
        changes = []
        if wanted is ModelStatus.CHAMPION:
            changes += _retire_champions(conn, flow, actor, now, f"{version} is champion", keep=found.id)
        share = {} if canary is None else {"canary_share": canary[0], "canary_sticky_by": canary[1]}
        store.set_status(conn, [ModelVersionId(found.id)], wanted.value, actor, now, **share)
        data = {"flow": flow.name, "version": version, "from": found.status, "to": wanted.value, "reason": reason}
        data |= {"share": canary[0], "sticky_by": canary[1]} if canary is not None else {}
        changes.append(AuditEvent(actor, "model.status_changed", "model_version", str(found.id), data))
        record(db, conn, [*changes, *events], now)
        changed = _version(store.row(conn, flow.name, version))
    if mirror:
        mirror_aliases(db, flow)
    return changed


@dataclass(frozen=True)
class Promoted:
    """A promotion: the new champion, how many open review cases it re-scored, and why MLflow's aliases could not
    follow, if they could not."""

    version: ModelVersion
    rescored: int
    warning: str | None = None


def promote(db: Database, project: Project, flow: Flow, version: str, *, actor: str, reason: str) -> Promoted:
    """Make a version champion by hand, then re-score the open review cases with it and move the MLflow aliases
    (``mirror_aliases``). Its artifact is loaded first, so a version that cannot serve is refused with nothing
    changed. No gate on evidence runs here: the promotion is the actor's decision, and its audit reason says so."""
    found = _read(db, flow, version)
    if found.kind == NO_MODEL_KIND:
        raise Conflict(f"{version!r} stands for the flow having no model; it cannot be promoted")
    model = load(project, flow, found)
    said = f"{reason} (promoted by hand; no gate ran)"
    changed = set_status(db, flow, version, ModelStatus.CHAMPION, actor=actor, reason=said, mirror=False)
    rescored = _rescore(db, flow, changed, model, actor)
    return Promoted(changed, rescored, mirror_aliases(db, flow))  # even unchanged: a promotion re-asserts them


# ---- serving ---------------------------------------------------------------------------------------------------

NO_MODEL_VERSION = "no-model"


def adopt(
    conn: Connection, flow: Flow, model: LoadedModel | None, actor: str, now: datetime
) -> tuple[ModelVersionId, list[AuditEvent]]:
    """Record, in the caller's transaction, the model the flow file names (or, when it names none, the stand-in
    that the cold start's predictions point to) and return its id with the events to record. A flow file's model
    recorded for the first time becomes the champion and retires the previous one; one already recorded keeps
    its status, so a promoted registry version keeps serving across restarts."""
    version = NO_MODEL_VERSION if model is None else model.version
    found = store.row(conn, flow.name, version)
    if found is not None:
        if model is not None and found.sha256 != model.sha256:
            raise Conflict(
                f"model version {version!r} of flow {flow.name!r} was recorded with another file "
                f"(sha256 {found.sha256}); give the new model a new 'version' in the flow file"
            )
        return ModelVersionId(found.id), []
    status = ModelStatus.RETIRED if model is None else ModelStatus.CHAMPION
    values = {
        "flow": flow.name,
        "version": version,
        "kind": NO_MODEL_KIND if model is None else model.kind,
        "uri": "" if model is None else model.uri,
        "sha256": None if model is None else model.sha256,
        "labels": list(flow.labels),
        "created_at": now,
        "status": status.value,
        "created_by": actor,
        "status_changed_at": now,
        "status_changed_by": actor,
    }
    events: list[AuditEvent] = []
    if model is not None:
        store.lock_flow(conn, flow.name)
        events += _retire_champions(conn, flow, actor, now, f"the flow file now names model {version!r}")
    version_id = store.insert_version(conn, values)
    data = {k: values[k] for k in ("flow", "version", "kind", "uri", "sha256", "status")}
    events.insert(0, AuditEvent(actor, "model.registered", "model_version", str(version_id), data))
    return version_id, events


def _retire_champions(
    conn: Connection, flow: Flow, actor: str, now: datetime, reason: str, keep: int | None = None
) -> list[AuditEvent]:
    """Retire the flow's champions but ``keep``, in the caller's transaction; returns their audit events."""
    previous = [i for i in store.champion_ids(conn, flow.name) if i != keep]
    store.set_status(conn, previous, ModelStatus.RETIRED.value, actor, now)
    data = {"flow": flow.name, "from": "champion", "to": "retired", "reason": reason}
    return [AuditEvent(actor, "model.status_changed", "model_version", str(i), data) for i in previous]


def load(project: Project, flow: Flow, found: ModelVersion) -> LoadedModel:
    """A recorded version ready to score: a registered artifact (only if its bytes are the ones recorded: then its
    types are the registry's own and are trusted), or the flow file's model when it is that one."""
    where = f"model version {found.version!r} of flow {flow.name!r}"
    if not found.registered:
        if flow.model is None:
            raise ModelError(f"{where}: the flow file names no model any more")
        model = load_model(project, flow)
        if model.version != found.version:
            raise ModelError(f"{where}: the flow file now names model {model.version!r}")
        return model
    path = project.resolve(found.uri)
    if not path.is_file():
        raise ModelError(f"{where}: its artifact {path} is missing")
    if file_sha256(path) != found.sha256:
        raise ModelError(f"{where}: {path} is not the file registered (its SHA-256 differs); refusing to load it")
    return load_sklearn(path, flow, None, where, found.version)


RESCORE_CHUNK = 500


def rescore(db: Database, project: Project, flow: Flow, *, actor: str) -> int:
    """Score the cases with an open review task that the champion has not scored yet, and record each score as a
    prediction of the champion beside the one that routed the case (reviewers see both). Returns how many."""
    serving = champion(db, flow)
    return 0 if serving is None else _rescore(db, flow, serving, load(project, flow, serving), actor)


def _rescore(db: Database, flow: Flow, serving: ModelVersion, model: LoadedModel, actor: str) -> int:
    with db.transaction(write=False) as conn:
        pending = store.open_unscored(conn, flow.name, serving.id)
    done = 0
    for start in range(0, len(pending), RESCORE_CHUNK):
        chunk = pending[start : start + RESCORE_CHUNK]
        scores = model.score(frame_of(flow, [r.fields for r in chunk]))
        with db.transaction() as conn:
            store.lock_flow(conn, flow.name)  # two re-scorers never record the same case twice
            still = {r.id for r in store.open_unscored(conn, flow.name, serving.id)}
            now = db.now(conn)
            written: list[Prediction] = []
            for r, probabilities, problem in zip(chunk, scores.probabilities, scores.problems, strict=True):
                if r.id not in still:
                    continue
                valid = problem is None
                written.append(
                    Prediction(
                        id=0,
                        case_id=r.id,
                        model_version_id=serving.id,
                        probabilities=[float(p) for p in probabilities] if valid else None,
                        label=flow.labels[int(np.argmax(probabilities))] if valid else None,
                        confidence=float(max(probabilities)) if valid else None,
                        problem=problem,
                        created_at=now,
                        model_version=serving.version,
                    )
                )
            if written:
                case_store.insert_predictions(conn, written)
                data = {"flow": flow.name, "version": serving.version, "cases": [w.case_id for w in written]}
                record(db, conn, [AuditEvent(actor, "model.rescored", "model_version", str(serving.id), data)], now)
            done += len(written)
    return done
