"""Trainer entry points for tests: one that learns incrementally, and some that return what no adapter can score."""

from __future__ import annotations

from typing import Any

from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from signoff.learning.datasets import TrainingData


def sgd(data: TrainingData) -> Pipeline:
    """A logistic model fitted by stochastic gradient descent on the ``score`` field: it has ``partial_fit``."""
    columns = ColumnTransformer([("numeric", StandardScaler(), ["score"])], remainder="drop")
    model = Pipeline([("columns", columns), ("model", SGDClassifier(loss="log_loss", random_state=0))])
    model.fit(data.train.frame, data.train.labels, model__sample_weight=data.train.weights)
    return model


def not_a_classifier(data: TrainingData) -> Any:
    return {"trained": len(data.train)}


def other_labels(data: TrainingData) -> LogisticRegression:
    return LogisticRegression().fit(
        data.train.frame[["score"]], ["yes" if s > 0.5 else "no" for s in data.train.frame["score"]]
    )
