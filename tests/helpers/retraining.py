"""A flow with decided cases to retrain on, and reads of what the retrain runs left behind."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select, update

from helpers.builders import flow_document, make_project
from signoff import intake
from signoff.config import Project
from signoff.intake import validate_case
from signoff.learning import outcomes
from signoff.store.database import Database
from signoff.store.schema import audit_events, cases, model_versions, retrain_runs


def labelled_project(
    db: Database, folder: Path, n: int, learning: dict[str, Any] | None = None, seed: int = 0
) -> Project:
    """A project whose ``n`` cases the model decided (scores outside the review band): ``n`` labels."""
    document = flow_document(learning={"min_labels": 20, **(learning or {})})
    project = make_project(folder, db.url, {"test-flow": document})
    add_labels(db, project, n, seed)
    return project


def add_labels(db: Database, project: Project, n: int, seed: int = 0) -> None:
    runtime = intake.prepare(db, project)["test-flow"]
    rng = np.random.default_rng(seed)
    scores = np.where(rng.random(n) < 0.5, rng.uniform(0, 0.29, n), rng.uniform(0.71, 1, n))
    cases = []
    for i, score in enumerate(scores):
        case, _ = validate_case(runtime.flow, f"s{seed}-{i}", {"score": float(score), "group": "a"}, f"cases[{i}]")
        assert case is not None
        cases.append(case)
    intake.submit(db, runtime, cases, "tester")


def outcome_project(
    db: Database, folder: Path, n: int, learning: dict[str, Any] | None = None, seed: int = 0
) -> Project:
    """``labelled_project`` whose cases all got an outcome (``add_outcomes``): ``n`` labels for Signoff's own
    steps, which never train on the model's decisions."""
    project = labelled_project(db, folder, n, learning, seed)
    add_outcomes(db, project)
    return project


def add_outcomes(db: Database, project: Project) -> int:
    """An outcome (source ``ledger``) for each case of test-flow: ``bad`` when its score is above 0.5, about one in
    ten the other way (seeded by the case id, so giving them again records nothing new). How many were new."""
    flow = project.flow("test-flow")
    with db.transaction(write=False) as conn:
        rows = conn.execute(select(cases.c.id, cases.c.fields).where(cases.c.flow == flow.name)).all()
    items = []
    for row in sorted(rows):
        label = "bad" if row.fields["score"] > 0.5 else "good"
        if np.random.default_rng(row.id).random() < 0.1:
            label = "good" if label == "bad" else "bad"
        item = {"case_id": row.id, "label": label, "source": "ledger"}
        items.append(outcomes.OutcomeIn.of(f"outcomes[{row.id}]", item))
    return sum(o.created for o in outcomes.record(db, flow, items, "ledger"))


def run_rows(db: Database) -> list[Any]:
    with db.transaction(write=False) as conn:
        return list(conn.execute(select(retrain_runs).order_by(retrain_runs.c.id)))


def versions(db: Database) -> list[Any]:
    with db.transaction(write=False) as conn:
        return list(conn.execute(select(model_versions).where(model_versions.c.version.like("r-%"))))


def run_events(db: Database, run_id: int) -> list[Any]:
    with db.transaction(write=False) as conn:
        query = (
            select(audit_events.c.action, audit_events.c.data)
            .where(audit_events.c.entity == "retrain_run", audit_events.c.entity_id == str(run_id))
            .order_by(audit_events.c.id)
        )
        return list(conn.execute(query))


def age_heartbeat(db: Database, run_id: int, seconds: float) -> None:
    """Move the run's heartbeat ``seconds`` into the past, as if its worker had stopped beating that long ago."""
    with db.transaction() as conn:
        row = conn.execute(select(retrain_runs.c.heartbeat_at).where(retrain_runs.c.id == run_id)).one()
        conn.execute(
            update(retrain_runs)
            .where(retrain_runs.c.id == run_id)
            .values(heartbeat_at=row.heartbeat_at - timedelta(seconds=seconds))
        )


# ``signoff`` itself, in a real process, with the small pipeline of helpers.pipeline in place of Signoff's own steps.
RUNNER = """
import sys
from helpers import pipeline
from signoff.learning import retrain
retrain.signoff_steps = pipeline.steps
from signoff.cli.main import app
app(sys.argv[1:], prog_name="signoff")
"""


def command(*args: str) -> list[str]:
    return [sys.executable, "-c", RUNNER, *args]


def signoff_with_pipeline(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(*args), env=env, capture_output=True, text=True, timeout=300)
