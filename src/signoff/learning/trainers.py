"""Trainers: a training set's frames in, a fitted classifier out, one the flow's model adapters can load and score.

A flow names its own trainer as ``learning.trainer: 'package.module:function'`` (the function takes a
``TrainingData`` and returns a model); without one, ``default_trainer`` trains calibrated gradient boosting.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

import pandas as pd
from sklearn.pipeline import Pipeline

from signoff.config import Flow
from signoff.errors import ModelError
from signoff.learning import train
from signoff.learning.datasets import TrainingData
from signoff.models.adapters import entry_point

Trainer = Callable[[TrainingData], Any]

CALIBRATION_FOLDS = 3


def features(flow: Flow) -> list[str]:
    """The fields a default model learns from: all but the group attributes (kept for fairness checks, not for
    deciding) and the entity (an identity, not a property of the case)."""
    return [name for name in flow.fields if name not in flow.groups and name != flow.entity]


def default_trainer(data: TrainingData) -> Pipeline:
    """Gradient boosting with sigmoid-calibrated probabilities, fitted on the set's train part with its weights;
    deterministic, so the same set always gives the same probabilities. Every label of the flow needs at least
    two training examples (the model must be able to predict each, and calibration needs two folds). An optional
    field that no training example has a value for is left out: nothing can be learned from it (and scaling an
    empty column divides by zero)."""
    flow = data.flow
    counts = Counter(str(label) for label in data.train.labels)
    scarce = [label for label in flow.labels if counts[label] < 2]
    if scarce:
        raise ModelError(
            f"flow {flow.name!r}: training set {data.training_set.id} has fewer than 2 training examples of "
            f"{', '.join(map(repr, scarce))}; the default trainer needs at least 2 of every label"
        )
    model = train.train(
        data.train.frame,
        data.train.labels,
        flow.fields,
        [name for name in features(flow) if data.train.frame[name].notna().any()],
        "calibrated",
        sample_weight=data.train.weights,
        folds=min(CALIBRATION_FOLDS, *counts.values()),
    )
    check(model, flow, "the default trainer")
    return model


def trainer_of(flow: Flow) -> Trainer:
    """The flow's trainer: its ``learning.trainer`` entry point, checked on every model it returns, else
    ``default_trainer``. An entry point that cannot be imported is reported here, before any training."""
    spec = flow.learning.trainer
    if spec is None:
        return default_trainer
    where = f"flows.{flow.name}.learning.trainer"
    # entry_point resolves any 'module:function'; what it takes and returns is the flow author's promise
    function = cast(Trainer, entry_point(spec, where))

    def trainer(data: TrainingData) -> Any:
        model = function(data)
        check(model, flow, f"{where} ({spec})")
        return model

    trainer.__name__ = trainer.__qualname__ = spec
    return trainer


def check(model: Any, flow: Flow, where: str) -> None:
    """Refuse a model the adapters could not score: no ``predict_proba`` or ``classes_``, or other classes than
    the flow's labels."""
    if not hasattr(model, "predict_proba") or not hasattr(model, "classes_"):
        raise ModelError(
            f"{where}: returned a {type(model).__name__}, not a fitted classifier with predict_proba and classes_"
        )
    classes = [str(c) for c in model.classes_]
    if sorted(classes) != sorted(flow.labels):
        raise ModelError(f"{where}: the model's classes {classes} are not the flow's labels {list(flow.labels)}")


def incremental(model: Any, data: TrainingData) -> Any:
    """A copy of ``model`` updated with ``partial_fit`` on the set's train part and weights; the model itself is
    left as it was. In a pipeline the final step learns and the earlier steps keep their fitted transform."""
    updated = copy.deepcopy(model)
    final = updated.steps[-1][1] if isinstance(updated, Pipeline) else updated
    if not hasattr(final, "partial_fit"):
        raise ModelError(
            f"flow {data.flow.name!r}: a {type(final).__name__} has no partial_fit; train a new model from the "
            "training set instead"
        )
    inputs: Any = updated[:-1].transform(data.train.frame) if isinstance(updated, Pipeline) else data.train.frame
    first = {} if hasattr(final, "classes_") else {"classes": list(data.flow.labels)}
    final.partial_fit(inputs, pd.Series(data.train.labels).astype(str), sample_weight=data.train.weights, **first)
    check(updated, data.flow, f"flow {data.flow.name!r}: the incremental update")
    return updated
