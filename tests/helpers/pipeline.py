"""A small but real learning pipeline for testing the retrain runs: decided cases as labels, a training set
recorded in the database (its training_sets row and an audit event, in one transaction), scikit-learn models, skops
artifacts written first and their rows after, idempotent by fingerprint. It has the signatures of Signoff's own
steps, so the run machinery around them (claims, heartbeats, take-overs, MLflow) is tested for what it is."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sqlalchemy import Connection, insert, select

from signoff import audit
from signoff.config import Flow, Project
from signoff.domain import AuditEvent, CaseId, LabelSource
from signoff.learning.records import Label, TrainingSet
from signoff.learning.retrain import Steps
from signoff.store import training as training_store
from signoff.store.database import Database, as_utc
from signoff.store.schema import cases, decisions, model_versions

SET = "training_set.built"


@dataclass(frozen=True)
class Version:
    id: int
    version: str
    uri: str
    status: str


def held_out(case_id: int) -> bool:
    return case_id % 5 == 0


def labels(conn: Connection, flow: str, *, until: datetime) -> list[Label]:
    query = (
        select(decisions.c.case_id, decisions.c.label, decisions.c.created_at, cases.c.created_at.label("case_at"))
        .select_from(decisions.join(cases, cases.c.id == decisions.c.case_id))
        .where(cases.c.flow == flow, decisions.c.created_at <= until, cases.c.status != "gold")
        .order_by(decisions.c.case_id)
    )
    return [
        Label(CaseId(row.case_id), row.label, LabelSource.REVIEW, as_utc(row.created_at), as_utc(row.case_at))
        for row in conn.execute(query)
    ]


def labels_of(db: Database, flow: str) -> list[Label]:
    with db.transaction(write=False) as conn:
        return labels(conn, flow, until=db.now(conn))


def _split(flow: Flow, found: Sequence[Label], until: datetime, actor: str) -> TrainingSet | None:
    """The set these labels give (id 0 until recorded): held-out cases dropped, the latest cases validate."""
    usable = sorted((label for label in found if not held_out(label.case_id)), key=lambda x: x.case_created_at)
    if len(usable) < flow.learning.min_labels:
        return None
    cut = int(len(usable) * (1 - flow.learning.validation))
    sha = hashlib.sha256(json.dumps([[x.case_id, x.label] for x in usable]).encode()).hexdigest()
    first, start = usable[0].labelled_at, usable[cut].case_created_at
    train, validation = tuple(usable[:cut]), tuple(usable[cut:])
    return TrainingSet(0, flow.name, train, validation, first, until, start, None, sha, until, actor)


def build(
    db: Database, flow: Flow, found: Sequence[Label], *, until: datetime, actor: str, policy_version: str | None = None
) -> TrainingSet | None:
    training_set = _split(flow, found, until, actor)
    if training_set is None:
        return None
    with db.transaction() as conn:
        set_id = training_store.insert_training_set(
            conn,
            [],
            flow=flow.name,
            window_start=training_set.window_start,
            window_end=until,
            validation_start=training_set.validation_start,
            policy_version=policy_version,
            holdout=0.2,
            sha256=training_set.sha256,
            created_at=until,
            created_by=actor,
        )
        data = {"flow": flow.name, "until": until.isoformat()}
        audit.record(db, conn, [AuditEvent(actor, SET, "training_set", str(set_id), data)])
    return replace(training_set, id=set_id, policy_version=policy_version)


def load(db: Database, flow: Flow, training_set_id: int) -> TrainingSet:
    with db.transaction(write=False) as conn:
        row = training_store.training_set(conn, training_set_id)
        assert row is not None
        until = as_utc(row.window_end)
        found = labels(conn, flow.name, until=until)
    training_set = _split(flow, found, until, row.created_by)
    assert training_set is not None and training_set.sha256 == row.sha256, "the recorded set changed"
    return replace(training_set, id=training_set_id)


def _frame(db: Database, found: Sequence[Label]) -> tuple[pd.DataFrame, np.ndarray]:
    ids = [label.case_id for label in found]
    with db.transaction(write=False) as conn:
        rows = {r.id: r.fields for r in conn.execute(select(cases.c.id, cases.c.fields).where(cases.c.id.in_(ids)))}
    frame = pd.DataFrame([{"score": float(rows[i]["score"])} for i in ids])
    return frame, np.array([label.label for label in found])


def frames(db: Database, flow: Flow, training_set: TrainingSet) -> tuple[pd.DataFrame, np.ndarray]:
    return _frame(db, training_set.train + training_set.validation)


def holdout(db: Database, flow: Flow, found: Sequence[Label]) -> tuple[pd.DataFrame, np.ndarray]:
    return _frame(db, [label for label in found if held_out(label.case_id)])


def plain_trainer(data: tuple[pd.DataFrame, np.ndarray]) -> Any:
    frame, target = data
    return LogisticRegression().fit(frame, target)


def pause(where: str) -> None:
    """Writes $RETRAIN_STARTED, then waits until $RETRAIN_GO exists: a test kills the process meanwhile."""
    Path(os.environ["RETRAIN_STARTED"]).write_text(where, encoding="utf-8")
    while not Path(os.environ["RETRAIN_GO"]).exists():
        time.sleep(0.05)


def slow_trainer(data: tuple[pd.DataFrame, np.ndarray]) -> Any:
    pause("train")
    return plain_trainer(data)


def failing_trainer(data: tuple[pd.DataFrame, np.ndarray]) -> Any:
    raise ValueError("the trainer found no usable feature")


def trainer_of(flow: Flow) -> Any:
    if flow.learning.trainer is None:
        return plain_trainer
    module, _, name = flow.learning.trainer.partition(":")
    return getattr(importlib.import_module(module), name)


def assess(model: Any, data: tuple[pd.DataFrame, np.ndarray]) -> dict[str, float]:
    frame, target = data
    return {"accuracy": float(np.mean(model.predict(frame) == target)), "n": float(len(target))}


@dataclass
class Registry:
    """Registered versions are candidates; a test promotes one with ``statuses``."""

    statuses: dict[int, str] = field(default_factory=dict)

    def register(
        self,
        db: Database,
        project: Project,
        flow: Flow,
        model: Any,
        *,
        training_set: TrainingSet,
        metrics: dict[str, float],
        parent: int | None,
        actor: str,
    ) -> Version:
        probe = pd.DataFrame({"score": np.linspace(0, 1, 11)})
        fingerprint = hashlib.sha256(
            json.dumps([training_set.sha256, np.round(model.predict_proba(probe), 6).tolist()]).encode()
        ).hexdigest()
        name = f"r-{fingerprint[:12]}"
        with db.transaction(write=False) as conn:
            found = conn.execute(
                select(model_versions.c.id, model_versions.c.uri).where(
                    model_versions.c.flow == flow.name, model_versions.c.version == name
                )
            ).first()
        if found is not None:
            return Version(found.id, name, found.uri, self.statuses.get(found.id, "candidate"))
        uri = f"models/{flow.name}-{name}.skops"
        path = project.resolve(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        sio.dump(model, partial)
        partial.replace(path)  # content first: a row never names a missing or cut-off file
        if os.environ.get("RETRAIN_PAUSE") == "register":
            pause("register")  # the artifact written, its row not yet
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        with db.transaction() as conn:
            now = db.now(conn)
            version_id = conn.execute(
                insert(model_versions)
                .values(flow=flow.name, version=name, kind="sklearn", uri=uri, sha256=digest)
                .values(labels=list(flow.labels), created_at=now)
                .returning(model_versions.c.id)
            ).scalar_one()
            event = AuditEvent(actor, "model.registered", "model_version", str(version_id), {"version": name})
            audit.record(db, conn, [event], now)
        return Version(version_id, name, uri, "candidate")

    def versions(self, db: Database, flow: Flow) -> list[Version]:
        with db.transaction(write=False) as conn:
            rows = conn.execute(
                select(model_versions.c.id, model_versions.c.version, model_versions.c.uri).where(
                    model_versions.c.flow == flow.name, model_versions.c.version.like("r-%")
                )
            ).all()
        return [Version(r.id, r.version, r.uri, self.statuses.get(r.id, "candidate")) for r in rows]

    def champion(self, db: Database, flow: Flow) -> Version | None:
        return next((v for v in self.versions(db, flow) if v.status == "champion"), None)

    def steps(self) -> Steps:
        return Steps(
            labels=labels,
            build=build,
            load=load,
            frames=frames,
            holdout=holdout,
            trainer=trainer_of,
            assess=assess,
            register=self.register,
            champion=self.champion,
            versions=self.versions,
        )


def steps() -> Steps:
    return Registry().steps()


class TrainingSetForTests:
    """A training set record with nothing behind it, for code that only reads its fields."""

    @staticmethod
    def make() -> TrainingSet:
        when = datetime(2026, 1, 1, tzinfo=UTC)
        label = Label(CaseId(1), "good", LabelSource.REVIEW, when, when)
        return TrainingSet(1, "test-flow", (label,), (label,), when, when, when, None, "0" * 64, when, "tester")
