"""Registry test helpers: a model to register, a training set record, and the training set tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Column, MetaData, Table, inspect, text

from signoff.config import Flow
from signoff.learning.records import TrainingSet
from signoff.learning.train import train
from signoff.models.frames import frame_of
from signoff.store import model_versions as store
from signoff.store.database import Database

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def training_set(sha: str = "a" * 64, id_: int = 7) -> TrainingSet:
    return TrainingSet(id_, "test-flow", (), (), NOW, NOW, NOW, None, sha, NOW, "tester")


def fitted(flow: Flow, cut: float = 0.5, n: int = 400, kind: str = "linear") -> Any:
    """A classifier of the builders' flow on ``score`` (logistic regression, or gradient boosting with a fixed
    random state): deterministic for the same arguments."""
    rng = np.random.default_rng(n)
    scores = rng.uniform(0, 1, n)
    frame = frame_of(flow, [{"score": float(s), "group": "a"} for s in scores])
    labels = pd.Series(np.where(scores > cut, "bad", "good"))
    return train(frame, labels, flow.fields, ["score"], kind=kind)


def training_tables(db: Database, examples: list[tuple[int, str, str, str]], id_: int = 7) -> None:
    """Record training set ``id_`` with ``examples`` (case id, label, source, part), creating the training set
    tables with the columns the lineage reads when the schema does not have them yet."""
    with db.transaction() as conn:
        if not inspect(conn).has_table("training_sets"):
            scratch = MetaData()
            for described in (store.training_sets, store.training_examples):
                columns = [Column(c.name, c.type, primary_key=c.primary_key) for c in described.columns]
                Table(described.name, scratch, *columns)
            scratch.create_all(conn)
        conn.execute(
            text("INSERT INTO training_sets (id, flow, window_start, window_end, sha256) VALUES (:i, :f, :s, :e, :h)"),
            {"i": id_, "f": "test-flow", "s": datetime(2026, 1, 1), "e": datetime(2026, 2, 1), "h": "a" * 64},
        )
        for case_id, label, source, part in examples:
            conn.execute(
                text(
                    "INSERT INTO training_examples (training_set_id, case_id, label, source, weight, part) "
                    "VALUES (:i, :c, :l, :s, 1.0, :p)"
                ),
                {"i": id_, "c": case_id, "l": label, "s": source, "p": part},
            )
