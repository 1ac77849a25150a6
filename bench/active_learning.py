"""Active learning: labels needed to reach 99% of the final model's accuracy, margin sampling against random.

Pool-based, per dataset and seed: a stratified 70 / 30 split into an unlabelled pool and a test set; the final
model is trained on the whole pool with every label. The loop starts from a random seed set (10 labels, or 2 per
class if more) and adds batches (10 labels, then a tenth of those held once past 100) chosen from the rest of the
pool by Signoff's own draw, ``signoff.learning.active.select`` with the settings a flow's ``learning.explore`` uses
by default (margin: epsilon 0.1, temperature 0.1), or uniformly (``strategy="random"``). After each batch it
retrains and scores the test set; a run's result is the first label count whose test accuracy reaches 99% of the
final model's (and the same for balanced accuracy, since one label is 97% of credit_default). The model is
scikit-learn's LogisticRegression on standardised features, trained unweighted (the inclusion probabilities keep
estimates unbiased; a classifier learns the boundary better from the hard cases as they are).

Run: ``make bench-active`` (about 3 minutes on 2 cores; ``--seeds 3`` for a quick look).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from shared_data import credit_default, credit_default_path, reference_set
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from signoff.learning import active

TARGET = 0.99
BATCH = 10
METRICS = ("accuracy", "balanced accuracy")
DEFAULTS = {"epsilon": 0.1, "temperature": 0.1}  # ExploreSpec's defaults
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Dataset:
    name: str
    x: npt.NDArray[np.float64]
    y: Ints


def datasets(credit: Path) -> Iterator[Dataset]:
    yield Dataset("credit_default (10,000)", *credit_default(credit))
    cancer = load_breast_cancer()
    yield Dataset("breast_cancer (569)", cancer.data, cancer.target.astype(np.int64))
    digits = load_digits()
    yield Dataset("digits (1,797, 10 classes)", digits.data, digits.target.astype(np.int64))
    yield Dataset("reference (synthetic, 30,000)", *reference_set())  # bench/routing_quality.py's reference set


def _fit(x: npt.NDArray[np.float64], y: Ints) -> LogisticRegression | np.int64:
    """The model, or the one class seen so far (a seed set may hold a single class)."""
    if len(np.unique(y)) < 2:
        return np.int64(y[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LogisticRegression(max_iter=500).fit(x, y)


def _predict(model: LogisticRegression | np.int64, x: npt.NDArray[np.float64]) -> Ints:
    if isinstance(model, LogisticRegression):
        return np.asarray(model.predict(x), dtype=np.int64)
    return np.full(len(x), model, dtype=np.int64)


def _scores(model: LogisticRegression | np.int64, x: npt.NDArray[np.float64], y: Ints) -> tuple[float, float]:
    predicted = _predict(model, x)
    return float((predicted == y).mean()), float(balanced_accuracy_score(y, predicted))


def run_one(data: Dataset, seed: int, strategy: active.Strategy) -> tuple[tuple[int, int], tuple[float, float]]:
    """Labels needed to reach the target of each metric, and the final model's scores."""
    rng = np.random.default_rng(seed)
    x_pool, x_test, y_pool, y_test = train_test_split(data.x, data.y, test_size=0.3, stratify=data.y, random_state=seed)
    scaler = StandardScaler().fit(x_pool)  # unsupervised: uses no label
    x_pool, x_test = scaler.transform(x_pool), scaler.transform(x_test)
    final = _scores(_fit(x_pool, y_pool), x_test, y_test)
    targets = [TARGET * f for f in final]
    classes = len(np.unique(data.y))
    start = max(BATCH, 2 * classes)
    labelled = rng.choice(len(y_pool), start, replace=False)
    needed: list[int | None] = [None, None]
    while True:
        model = _fit(x_pool[labelled], y_pool[labelled])
        for i, score in enumerate(_scores(model, x_test, y_test)):
            if needed[i] is None and score >= targets[i]:
                needed[i] = len(labelled)
        rest = np.setdiff1d(np.arange(len(y_pool)), labelled)
        if all(n is not None for n in needed) or len(rest) == 0:
            break
        size = min(len(rest), BATCH if len(labelled) < 100 else len(labelled) // 10)
        if isinstance(model, LogisticRegression):
            margins = active.margins(model.predict_proba(x_pool[rest]))
        else:
            margins = np.zeros(len(rest))  # one class seen: every case is as uncertain as any other
        drawn = active.select(margins, size, rng, strategy=strategy, **DEFAULTS)
        labelled = np.concatenate([labelled, rest[drawn.indices]])
    reached = tuple(n if n is not None else len(y_pool) for n in needed)
    return (reached[0], reached[1]), final


def _quantiles(values: list[int]) -> str:
    p10, p50, p90 = np.percentile(values, [10, 50, 90])
    return f"{p50:,.0f} ({p10:,.0f}-{p90:,.0f})"


def run(seeds: int, credit: Path) -> None:
    console = Console(width=max(Console().width, 120))
    began = time.perf_counter()
    table = Table(title=f"Labels to reach {TARGET:.0%} of the final model's score: median (p10-p90) over {seeds} seeds")
    for column in ("dataset", "metric", "final model", "margin", "random", "random / margin (median)"):
        table.add_column(column)
    data = list(datasets(credit))
    with Progress(console=console, transient=True) as progress:
        for d in data:
            job = progress.add_task(d.name, total=seeds * 2)
            needed: dict[str, list[tuple[int, int]]] = {"margin": [], "random": []}
            finals = []
            for seed in range(seeds):
                for strategy in active.STRATEGIES:
                    reached, final = run_one(d, seed, strategy)
                    needed[strategy].append(reached)
                    finals.append(final)
                    progress.advance(job)
            for i, metric in enumerate(METRICS):
                margin = [n[i] for n in needed["margin"]]
                uniform = [n[i] for n in needed["random"]]
                table.add_row(
                    d.name,
                    metric,
                    f"{np.mean([f[i] for f in finals]):.1%}",
                    _quantiles(margin),
                    _quantiles(uniform),
                    f"{np.median(uniform) / np.median(margin):.2f}",
                )
    console.print(table)
    console.print(
        f"LogisticRegression on standardised features; seed set {BATCH} labels (2 per class if more), batches of "
        f"{BATCH}, then a tenth of the labels held. Margin: signoff.learning.active.select, epsilon "
        f"{DEFAULTS['epsilon']}, temperature {DEFAULTS['temperature']}. {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; {time.perf_counter() - began:.0f} s."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument(
        "--credit", type=Path, default=credit_default_path(), help="credit_default.csv (shared datasets)"
    )
    args = parser.parse_args()
    if args.credit is None or not args.credit.is_file():
        parser.error(
            f"credit_default.csv not found ({args.credit or 'no shared/datasets beside the checkout'}); "
            "pass --credit PATH"
        )
    run(args.seeds, args.credit)


if __name__ == "__main__":
    main()
