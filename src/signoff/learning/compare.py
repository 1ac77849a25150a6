"""A challenger model against the champion, on the same labelled cases: the evidence a promotion is judged on.

Both models score the same cases, so their errors are paired: a case that is hard for one is usually hard for the
other. Tests that ignore the pairing (two independent accuracies, two separate AUC intervals) see the shared
difficulty as noise and miss real gains; the paired tests here look only at what differs. McNemar's test counts
the cases exactly one model gets wrong; the paired bootstrap resamples cases, each with both models' scores, and
reads the interval of the AUC difference from the resampled differences.

Every figure (accuracy, AUC, log loss, calibration error, the routing figures, per group) is weighted by the
examples' weights, so that the random audit sample stands for the automatically decided cases it was drawn among.
McNemar's test counts cases: a weight is not a count of independent observations, and its p-value is over the
cases as they were labelled.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from signoff.errors import ModelError
from signoff.learning.assess import auc, figures, truth_index
from signoff.learning.datasets import Examples
from signoff.learning.records import Comparison, GroupComparison, McNemar, PairedBootstrap, Performance
from signoff.routing import Batch, Policy, PolicyState
from signoff.routing.policy import EMPTY_STATE, REVIEW

Probabilities = npt.NDArray[np.float64]
Router = Callable[[Probabilities], npt.ArrayLike]
"""The flow's policy as a function: whether each case is sent to review when the model gives it these
probabilities (one row per case, one column per label in the comparison's order)."""

EXACT_BELOW = 25  # discordant cases under which McNemar's chi-square approximation is poor: use the binomial
RESAMPLES = 2000
CONFIDENCE = 0.95
BATCH = 250  # resamples measured at once: a batch holds BATCH x cases weights


def effective_size(weights: npt.NDArray[np.float64] | None, n: int) -> float:
    """Kish's effective sample size of ``n`` cases with these weights (``n`` without weights)."""
    if weights is None:
        return float(n)
    return float(weights.sum() ** 2 / np.square(weights).sum())


def mcnemar(champion_correct: npt.ArrayLike, challenger_correct: npt.ArrayLike) -> McNemar:
    """McNemar's test of whether the two models err equally often on the same cases (see ``McNemar``)."""
    first = np.asarray(champion_correct, dtype=np.bool_)
    second = np.asarray(challenger_correct, dtype=np.bool_)
    if first.shape != second.shape or first.ndim != 1:
        raise ValueError(f"expected two equal-length vectors, got shapes {first.shape} and {second.shape}")
    from scipy import stats  # type: ignore[import-untyped, unused-ignore]  # here: importing it costs every start 0.6 s

    b = int((first & ~second).sum())
    c = int((~first & second).sum())
    if b + c < EXACT_BELOW:
        p = 1.0 if b + c == 0 else min(1.0, 2 * float(stats.binom.cdf(min(b, c), b + c, 0.5)))
        return McNemar(b, c, None, p, exact=True)
    statistic = (abs(b - c) - 1) ** 2 / (b + c)
    return McNemar(b, c, float(statistic), float(stats.chi2.sf(statistic, df=1)), exact=False)


def paired_bootstrap_auc(
    truth: npt.NDArray[np.intp],
    champion: Probabilities,
    challenger: Probabilities,
    weights: npt.NDArray[np.float64] | None = None,
    *,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> PairedBootstrap | None:
    """The paired bootstrap of the AUC difference (see ``PairedBootstrap``); None when AUC is undefined on the
    cases themselves. ``truth`` holds each case's column in the probabilities. Deterministic for a seed.

    A resample is drawn as how many times each case is taken (multinomial counts), which multiply the cases'
    weights: AUC with those weights is AUC on the resample, and all resamples are measured at once."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    first, second = auc(champion, truth, weights), auc(challenger, truth, weights)
    if first is None or second is None:
        return None
    rng = np.random.default_rng(seed)
    n = len(truth)
    base = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    differences: list[npt.NDArray[np.float64]] = []
    for start in range(0, resamples, BATCH):
        counts = rng.multinomial(n, np.full(n, 1 / n), size=min(BATCH, resamples - start))
        w = counts * base
        differences.append(_aucs(challenger, truth, w) - _aucs(champion, truth, w))
    found = np.concatenate(differences)
    found = found[~np.isnan(found)]
    tail = (1 - confidence) / 2
    if found.size:
        low, high = (float(q) for q in np.quantile(found, [tail, 1 - tail]))
    else:  # every resample had a single label: no interval beyond the point itself
        low = high = second - first
    return PairedBootstrap(second - first, low, high, confidence, resamples, resamples - int(found.size), seed)


def _aucs(
    probabilities: Probabilities, truth: npt.NDArray[np.intp], weights: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """``assess.auc`` for each row of ``weights`` (one weighting of the cases per row), NaN where undefined:
    the weighted share of (positive, negative) pairs ranked in order, ties counting half."""
    per_label = []
    for label in range(probabilities.shape[1]):
        scores = probabilities[:, label]
        order = np.argsort(scores, kind="stable")
        _, starts = np.unique(scores[order], return_index=True)
        positive = truth[order] == label
        w = weights[:, order]
        pos = np.add.reduceat(w * positive, starts, axis=1)  # weight of positives per tied score, ascending
        neg = np.add.reduceat(w * ~positive, starts, axis=1)
        below = np.cumsum(neg, axis=1) - neg
        pairs = pos.sum(axis=1) * neg.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_label.append(np.where(pairs > 0, (pos * (below + neg / 2)).sum(axis=1) / pairs, np.nan))
    table = np.vstack(per_label)
    defined = (~np.isnan(table)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.where(defined > 0, np.nansum(table, axis=0) / defined, np.nan), dtype=np.float64)


def compare_probabilities(
    labels: Sequence[str],
    truth: npt.ArrayLike,
    champion: Probabilities,
    challenger: Probabilities,
    *,
    weights: npt.ArrayLike | None = None,
    router: Router | None = None,
    challenger_router: Router | None = None,
    groups: Mapping[str, Sequence[Hashable]] | None = None,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> Comparison:
    """Compare two models from their probabilities on the same cases (one row per case, one column per label in
    ``labels`` order), the cases' true labels and, optionally, their weights, the flow's policy as a ``Router``
    (``challenger_router`` when the challenger's learning rules are calibrated apart: by default ``router``) and
    group attributes (one value per case; None becomes ``"(missing)"``)."""
    classes = tuple(str(label) for label in labels)
    first = np.asarray(champion, dtype=np.float64)
    second = np.asarray(challenger, dtype=np.float64)
    index = truth_index(classes, truth)
    n = len(index)
    if n == 0:
        raise ModelError("there is no labelled case to compare the models on")
    if first.shape != (n, len(classes)) or second.shape != first.shape:
        raise ModelError(
            f"expected probabilities of shape ({n}, {len(classes)}) from both models, "
            f"got {first.shape} and {second.shape}"
        )
    w = None if weights is None else _weights(weights, n)
    flagged = (
        (None, None) if router is None else (_flags(router, first, n), _flags(challenger_router or router, second, n))
    )
    columns = {
        "truth": index,
        "champion": first,
        "challenger": second,
        "weights": np.ones(n) if w is None else w,
        "champion_flagged": np.zeros(n, np.bool_) if flagged[0] is None else flagged[0],
        "challenger_flagged": np.zeros(n, np.bool_) if flagged[1] is None else flagged[1],
    }
    routed = router is not None
    compared: list[GroupComparison] = []
    for attribute, values in (groups or {}).items():
        compared.extend(_by_group(attribute, values, classes, columns, routed))
    return Comparison(
        labels=classes,
        n=n,
        weighted=w is not None and bool((w != 1).any()),
        champion=_performance(classes, index, first, w, flagged[0]),
        challenger=_performance(classes, index, second, w, flagged[1]),
        mcnemar=mcnemar(first.argmax(axis=1) == index, second.argmax(axis=1) == index),
        auc_difference=paired_bootstrap_auc(
            index, first, second, w, resamples=resamples, confidence=confidence, seed=seed
        ),
        groups=tuple(compared),
        effective_n=effective_size(w, n),
    )


def compare(
    champion: Any,
    challenger: Any,
    examples: Examples,
    *,
    router: Router | None = None,
    challenger_router: Router | None = None,
    groups: Sequence[str] = (),
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> Comparison:
    """Compare two fitted models (``classes_`` and ``predict_proba``) on labelled examples, weighted by the
    examples' weights; ``groups`` names the frame's columns to compare them by (the flow's ``groups``)."""
    labels = [str(c) for c in champion.classes_]
    other = [str(c) for c in challenger.classes_]
    if sorted(other) != sorted(labels):
        raise ModelError(f"the challenger's classes {other} are not the champion's {labels}")
    missing = [name for name in groups if name not in examples.frame.columns]
    if missing:
        raise ModelError(f"group attributes {missing} are not columns of the examples")
    first = np.asarray(champion.predict_proba(examples.frame), dtype=np.float64)
    second = np.asarray(challenger.predict_proba(examples.frame), dtype=np.float64)
    second = second[:, [other.index(label) for label in labels]] if len(second) else second
    return compare_probabilities(
        labels,
        examples.labels,
        first,
        second.reshape(len(examples), len(labels)),
        weights=examples.weights,
        router=router,
        challenger_router=challenger_router,
        groups={name: list(examples.frame[name]) for name in groups},
        resamples=resamples,
        confidence=confidence,
        seed=seed,
    )


def policy_router(policy: Policy, batch: Batch, state: PolicyState = EMPTY_STATE) -> Router:
    """The flow's policy as a ``Router``: the batch's cases (their fields, time and audit draws) routed as the
    engine would, with a model's probabilities in place of the batch's. ``state`` holds the learning rules'
    calibration (certificates, recent scores): a model's own, since a threshold certified on one model's scores
    says nothing of another's. A case drawn for audit counts as decided by the model, as it is in production."""

    def flagged(probabilities: Probabilities) -> npt.NDArray[np.bool_]:
        scored = dataclasses.replace(batch, probabilities=probabilities)
        return np.asarray(policy.decide(scored, state).verdict == REVIEW, dtype=np.bool_)

    return flagged


def _weights(weights: npt.ArrayLike, n: int) -> npt.NDArray[np.float64]:
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.isfinite(w).all() or (w <= 0).any():
        raise ModelError(f"expected {n} positive finite weights, one per case")
    return w


def _flags(router: Router, probabilities: Probabilities, n: int) -> npt.NDArray[np.bool_]:
    flagged = np.asarray(router(probabilities))
    if flagged.shape != (n,) or not (flagged.dtype == np.bool_ or np.isin(flagged, (0, 1)).all()):
        raise ModelError(f"the policy must say for each of the {n} cases whether it is sent to review")
    return flagged.astype(np.bool_)


def _performance(
    classes: Sequence[str],
    truth: npt.NDArray[np.intp],
    probabilities: Probabilities,
    weights: npt.NDArray[np.float64] | None,
    flagged: npt.NDArray[np.bool_] | None,
) -> Performance:
    found = figures(classes, probabilities, np.asarray(classes)[truth], weights)
    routing: dict[str, float | None] = {}
    if flagged is not None:
        w = np.ones(len(truth)) if weights is None else weights
        auto = ~flagged
        wrong = probabilities.argmax(axis=1) != truth
        routing["flag_rate"] = float(np.average(flagged, weights=w))
        routing["auto_error"] = float(np.average(wrong[auto], weights=w[auto])) if auto.any() else None
    return Performance(
        n=int(found["n"]),
        accuracy=found["accuracy"],
        log_loss=found["log_loss"],
        ece=found["ece"],
        auc=found.get("auc"),
        **routing,
    )


def _by_group(
    attribute: str,
    values: Sequence[Hashable],
    classes: Sequence[str],
    columns: Mapping[str, npt.NDArray[Any]],
    routed: bool,
) -> list[GroupComparison]:
    """Both models' performance per group of one attribute, split by Fairlearn's ``MetricFrame``."""
    n = len(columns["truth"])
    if len(values) != n:
        raise ModelError(f"group attribute {attribute!r} has {len(values)} values for {n} cases")
    names = np.asarray(["(missing)" if v is None else str(v) for v in values], dtype=object)

    def measure(model: str) -> Callable[..., Performance]:
        def one(y_true: npt.NDArray[np.intp], y_pred: Any, *, rows: npt.NDArray[np.intp]) -> Performance:
            flagged = columns[f"{model}_flagged"][rows] if routed else None
            return _performance(classes, y_true, columns[model][rows], columns["weights"][rows], flagged)

        return one

    from fairlearn.metrics import MetricFrame  # here: importing it costs every command's start over a second

    # MetricFrame splits one-dimensional columns only: each group's rows index the probabilities
    rows = np.arange(n)
    frame = MetricFrame(
        metrics={model: measure(model) for model in ("champion", "challenger")},
        y_true=columns["truth"],
        y_pred=columns["truth"],  # unused: each model's predictions are its probabilities
        sensitive_features=pd.Series(names, name=attribute),
        sample_params={model: {"rows": rows} for model in ("champion", "challenger")},
    )
    table = frame.by_group
    return [
        GroupComparison(attribute, str(group), table.loc[group, "champion"], table.loc[group, "challenger"])
        for group in table.index
    ]
