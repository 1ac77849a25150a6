"""How good a trained model is on labelled cases it never saw (the flow's held-out set, or a set's validation part).

Every figure is weighted by the examples' weights, so that the audit sample stands for the automatically decided
cases it was drawn among rather than counting like one flagged case.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import roc_auc_score

from signoff.errors import ModelError
from signoff.learning.datasets import Examples, TrainingData

BINS = 10
EPSILON = 1e-15  # a probability of 0 for the true label costs log(1e-15), not infinity


def metrics(model: Any, data: Examples | TrainingData) -> dict[str, float]:
    """``n``, ``accuracy``, ``log_loss``, ``ece`` (expected calibration error) and ``auc`` (the mean of each
    label's one-against-the-rest AUC: for two labels, the ordinary AUC) of ``model`` on ``data`` (a training
    data's validation part). ``auc`` is left out when fewer than two labels occur, every other figure but ``n``
    when there is no example: an undefined figure is absent, never NaN."""
    examples = data.validation if isinstance(data, TrainingData) else data
    if len(examples) == 0:
        return {"n": 0.0}
    classes = [str(c) for c in model.classes_]
    probabilities = np.asarray(model.predict_proba(examples.frame), dtype=np.float64)
    return figures(classes, probabilities, examples.labels, examples.weights)


def figures(
    classes: Sequence[str],
    probabilities: npt.NDArray[np.float64],
    labels: npt.ArrayLike,
    weights: npt.NDArray[np.float64] | None = None,
) -> dict[str, float]:
    """The figures of ``metrics`` from probabilities already computed (one column per class, in ``classes``
    order), so that models scored once can be measured on any subset of the cases."""
    n = len(probabilities)
    if n == 0:
        return {"n": 0.0}
    truth = truth_index(classes, labels)
    correct = probabilities.argmax(axis=1) == truth
    given = np.clip(probabilities[np.arange(n), truth], EPSILON, 1.0)
    found = {
        "n": float(n),
        "accuracy": float(np.average(correct, weights=weights)),
        "log_loss": float(-np.average(np.log(given), weights=weights)),
        "ece": expected_calibration_error(probabilities.max(axis=1), correct, weights),
    }
    area = auc(probabilities, truth, weights)
    if area is not None:
        found["auc"] = area
    return found


def truth_index(classes: Sequence[str], labels: npt.ArrayLike) -> npt.NDArray[np.intp]:
    """Each label's column in ``classes``; a label that is not a class is refused."""
    truth = np.asarray(labels).astype(str)
    known = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(truth) - known.keys())
    if unknown:
        raise ModelError(f"the model's classes {list(classes)} do not include the labels {unknown}")
    return np.array([known[t] for t in truth], dtype=np.intp)


def auc(
    probabilities: npt.NDArray[np.float64],
    truth: npt.NDArray[np.intp],
    weights: npt.NDArray[np.float64] | None = None,
) -> float | None:
    """The mean over the labels present (and not alone) of each one's one-against-the-rest AUC; None when fewer
    than two labels occur. ``truth`` holds each case's column in ``probabilities``."""
    n = len(truth)
    aucs = [
        float(roc_auc_score(truth == i, probabilities[:, i], sample_weight=weights))
        for i in range(probabilities.shape[1])
        if 0 < (truth == i).sum() < n
    ]
    return float(np.mean(aucs)) if aucs else None


def expected_calibration_error(
    confidence: npt.NDArray[np.float64],
    correct: npt.NDArray[np.bool_],
    weights: npt.NDArray[np.float64] | None = None,
    bins: int = BINS,
) -> float:
    """The weighted mean, over ``bins`` equal-width bins of the top label's probability, of the gap between the
    bin's mean confidence and its accuracy, each bin counting by its share of the weight."""
    w = np.ones(len(confidence)) if weights is None else np.asarray(weights, dtype=np.float64)
    if not len(confidence) or w.sum() <= 0:
        return 0.0
    index = np.minimum((np.asarray(confidence) * bins).astype(int), bins - 1)
    gap = 0.0
    for b in np.unique(index):
        members = index == b
        mass = w[members].sum()
        if mass > 0:
            gap += mass * abs(
                np.average(correct[members], weights=w[members]) - np.average(confidence[members], weights=w[members])
            )
    return float(gap / w.sum())
