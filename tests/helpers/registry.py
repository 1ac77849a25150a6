"""Registry test helpers: a model to register, a training set record, and the training set tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import insert, select

from signoff.config import Flow
from signoff.learning.records import TrainingSet
from signoff.learning.train import train
from signoff.models.frames import frame_of
from signoff.store.database import Database
from signoff.store.schema import training_examples, training_sets

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def training_set(db: Database, sha: str = "a" * 64, id_: int = 7, window_end: datetime = NOW) -> TrainingSet:
    """Training set ``id_``, recorded (with no examples) unless it is already."""
    with db.transaction() as conn:
        if conn.execute(select(training_sets.c.id).where(training_sets.c.id == id_)).first() is None:
            conn.execute(
                insert(training_sets).values(
                    id=id_,
                    flow="test-flow",
                    window_start=NOW,
                    window_end=window_end,
                    validation_start=NOW,
                    holdout=0.1,
                    sha256=sha,
                    created_at=NOW,
                    created_by="tester",
                )
            )
    return TrainingSet(id_, "test-flow", (), (), NOW, window_end, NOW, None, sha, NOW, "tester")


def fitted(flow: Flow, cut: float = 0.5, n: int = 400, kind: str = "linear") -> Any:
    """A classifier of the builders' flow on ``score`` (logistic regression, or gradient boosting with a fixed
    random state): deterministic for the same arguments."""
    rng = np.random.default_rng(n)
    scores = rng.uniform(0, 1, n)
    frame = frame_of(flow, [{"score": float(s), "group": "a"} for s in scores])
    labels = pd.Series(np.where(scores > cut, "bad", "good"))
    return train(frame, labels, flow.fields, ["score"], kind=kind)


def training_tables(db: Database, examples: list[tuple[int, str, str, str]], id_: int = 7) -> None:
    """Record training set ``id_`` (unless it is already; its window ends on 1 February) with ``examples`` (case
    id, label, source, part)."""
    training_set(db, id_=id_, window_end=datetime(2026, 2, 1, tzinfo=UTC))
    with db.transaction() as conn:
        for case_id, label, source, part in examples:
            conn.execute(
                insert(training_examples).values(
                    training_set_id=id_,
                    case_id=case_id,
                    label=label,
                    source=source,
                    weight=1.0,
                    part=part,
                    labelled_at=NOW,
                )
            )
