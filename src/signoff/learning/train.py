"""Train a classifier for a flow from a labelled table, and save it in the safe skops format."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from signoff.config import FieldSpec


def classifier(fields: Mapping[str, FieldSpec], features: Sequence[str], kind: str = "boosting") -> Pipeline:
    """A pipeline that uses only ``features`` (so group attributes can be left out) of the flow's fields."""
    numeric = [f for f in features if fields[f].type in ("number", "integer")]
    categorical = [f for f in features if fields[f].type in ("category", "string", "boolean")]
    columns = ColumnTransformer(
        [
            ("numeric", StandardScaler(), numeric),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
        ],
        remainder="drop",
    )
    model: Any = (
        HistGradientBoostingClassifier(max_iter=150, learning_rate=0.08, random_state=0)
        if kind == "boosting"
        else LogisticRegression(max_iter=2000)
    )
    return Pipeline([("columns", columns), ("model", model)])


def train(
    frame: pd.DataFrame,
    labels: pd.Series,
    fields: Mapping[str, FieldSpec],
    features: Sequence[str],
    kind: str = "boosting",
) -> Pipeline:
    pipeline = classifier(fields, features, kind)
    pipeline.fit(frame[list(fields)], labels.astype(str))
    return pipeline


def save(model: Pipeline, path: Path) -> Path:
    import skops.io as sio

    path.parent.mkdir(parents=True, exist_ok=True)
    sio.dump(model, path)
    return path
