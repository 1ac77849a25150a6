"""A flow with human-verified outcomes of known quality and challengers of known quality, for the promotion gate.

The world: a case is bad when ``score + 0.6 * amount / 100`` in group a, ``score - 0.3 * amount / 100`` in group b,
plus a little noise, is above 0.8. The champion is the flow file's model, P(bad) = score: good, not the best.
Challengers are scikit-learn models trained on fresh draws of the same world and registered in the store:

- ``better``: gradient boosting on score, amount and group: it learns the amount's effect where it has one;
- ``worse``: logistic regression on the amount alone;
- ``group_regression``: logistic regression on score and amount without the group: better on average (group a is
  most cases) and worse in group b, where the amount works the other way;
- the ``better`` challenger, scored on the calibration file of ``certified_project`` (amounts far above anything
  seen, where the amount no longer matters), is confidently wrong: its certified rule cannot certify.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import select

from helpers.builders import flow_document, make_project
from helpers.registry import training_set
from signoff import intake
from signoff.config import Project
from signoff.intake import validate_case
from signoff.learning import outcomes, registry
from signoff.learning.datasets import TrainingData
from signoff.learning.outcomes import OutcomeIn
from signoff.learning.train import train
from signoff.models.frames import frame_of
from signoff.store.database import Database
from signoff.store.schema import audit_events

Challenger = Literal["better", "worse", "group_regression"]
GATE = {"min_evidence": 100, "resamples": 400}


def world(n: int, seed: int) -> tuple[list[dict[str, Any]], list[str]]:
    """``n`` cases of the world (group b one case in three) and their true labels."""
    rng = np.random.default_rng(seed)
    score, amount = rng.uniform(0, 1, n), rng.uniform(0, 100, n)
    group = np.where(rng.random(n) < 2 / 3, "a", "b")
    risk = score + np.where(group == "a", 0.6, -0.3) * amount / 100 + rng.normal(0, 0.05, n)
    rows = [
        {"score": float(s), "amount": float(a), "group": str(g)} for s, a, g in zip(score, amount, group, strict=True)
    ]
    return rows, ["bad" if r > 0.8 else "good" for r in risk]


def gated_project(db: Database, folder: Path, n: int = 500, **overrides: Any) -> Project:
    """A project whose ``n`` cases all have an outcome; 45% of them are held out of every training set."""
    learning = {"holdout": 0.45, "gate": GATE}
    project = make_project(folder, db.url, {"test-flow": flow_document(**{"learning": learning, **overrides})})
    populate(db, project, n)
    return project


def populate(db: Database, project: Project, n: int) -> None:
    """Submit ``n`` cases of the world to the project's ``test-flow`` and record each one's outcome."""
    runtime = intake.prepare(db, project)["test-flow"]
    rows, truth = world(n, seed=1)
    cases = []
    for i, row in enumerate(rows):
        case, _ = validate_case(runtime.flow, f"p{i}", row, f"cases[{i}]")
        assert case is not None
        cases.append(case)
    intake.submit(db, runtime, cases, "tester")
    items = [
        OutcomeIn.of(f"outcomes[{i}]", {"external_id": f"p{i}", "label": label, "source": "repayment"})
        for i, label in enumerate(truth)
    ]
    outcomes.record(db, project.flow("test-flow"), items, "tester")


def certified_project(db: Database, folder: Path, n: int = 500) -> Project:
    """``gated_project`` whose policy has a certified rule calibrated on a file of large amounts, all good."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {"score": rng.uniform(0.25, 0.5, 300), "amount": rng.uniform(300, 500, 300), "group": "a", "label": "good"}
    )
    frame.to_csv(folder / "calibration.csv", index=False)
    policy = [
        {"name": "uncertain", "kind": "band", "label": "bad", "low": 0.3, "high": 0.7, "review": "inside"},
        {"name": "certified", "kind": "certified", "alpha": 0.1},
    ]
    return gated_project(db, folder, n, policy=policy, calibration={"file": "calibration.csv"})


def register(db: Database, project: Project, which: Challenger) -> str:
    """Train the challenger on fresh draws of the world and register it as a candidate; its version name."""
    flow = project.flow("test-flow")
    rows, truth = world(4000, seed=2)
    frame = frame_of(flow, rows)
    if which == "better":
        model = train(frame, np.array(truth), flow.fields, ["score", "amount", "group"], kind="boosting")
    elif which == "worse":
        model = train(frame, np.array(truth), flow.fields, ["amount"], kind="linear")
    else:
        model = train(frame, np.array(truth), flow.fields, ["score", "amount"], kind="linear")
    found = training_set(db, sha=which.ljust(64, "0"), id_={"better": 7, "worse": 8, "group_regression": 9}[which])
    version = registry.register(db, project, flow, model, training_set=found, metrics={}, parent=None, actor="trainer")
    return version.version


def actions(db: Database) -> list[str]:
    """The model decisions audited, in order (registrations and re-scores aside)."""
    with db.transaction(write=False) as conn:
        query = select(audit_events.c.action).where(audit_events.c.action.like("model.%")).order_by(audit_events.c.id)
        return [a for a in conn.execute(query).scalars() if a not in ("model.registered", "model.rescored")]


def boosted(data: TrainingData) -> Any:
    """A trainer (``learning.trainer``): gradient boosting on score, amount and group, like the ``better`` one."""
    train_part = data.train
    return train(train_part.frame, train_part.labels, data.flow.fields, ["score", "amount", "group"], kind="boosting")
