"""Train a classifier for a flow from a labelled table, and save it in the safe skops format."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from signoff.config import FieldSpec

Kind = Literal["boosting", "calibrated", "linear"]

# The types skops must be told to trust (a flow's ``trusted_types``) to load a "boosting" or "calibrated" model.
TRUSTED_TYPES = (
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)


def classifier(
    fields: Mapping[str, FieldSpec], features: Sequence[str], kind: Kind = "boosting", folds: int = 3
) -> Pipeline:
    """A pipeline that uses only ``features`` (so group attributes can be left out) of the flow's fields.

    "calibrated" is gradient boosting whose probabilities are fitted to the observed frequencies (Platt's sigmoid,
    which needs fewer labels than isotonic regression) by ``folds``-fold cross-validation. Every kind is
    deterministic: boosting's random state is fixed and the folds are not shuffled."""
    numeric = [f for f in features if fields[f].type in ("number", "integer")]
    categorical = [f for f in features if fields[f].type in ("category", "string", "boolean")]
    columns = ColumnTransformer(
        [
            ("numeric", StandardScaler(), numeric),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
        ],
        remainder="drop",
        sparse_threshold=0,  # gradient boosting takes dense input only
    )
    boosting = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.08, random_state=0)
    model: Any = (
        boosting
        if kind == "boosting"
        else CalibratedClassifierCV(boosting, method="sigmoid", cv=folds)
        if kind == "calibrated"
        else LogisticRegression(max_iter=2000)
    )
    return Pipeline([("columns", columns), ("model", model)])


def train(
    frame: pd.DataFrame,
    labels: pd.Series | npt.NDArray[np.str_],
    fields: Mapping[str, FieldSpec],
    features: Sequence[str],
    kind: Kind = "boosting",
    *,
    sample_weight: npt.NDArray[np.float64] | None = None,
    folds: int = 3,
) -> Pipeline:
    pipeline = classifier(fields, features, kind, folds)
    pipeline.fit(frame[list(fields)], np.asarray(labels).astype(str), model__sample_weight=sample_weight)
    return pipeline


def save(model: Pipeline, path: Path) -> Path:
    import skops.io as sio

    path.parent.mkdir(parents=True, exist_ok=True)
    sio.dump(model, path)
    return path
