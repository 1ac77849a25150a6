"""The data sets more than one benchmark reads: credit_default from the shared datasets folder beside the checkout,
and the synthetic reference set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.datasets import make_classification

Table = tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]


def credit_default_path() -> Path | None:
    """``shared/datasets/credit_default.csv`` in the nearest folder above this file that has it."""
    for folder in Path(__file__).resolve().parents:
        candidate = folder / "shared" / "datasets" / "credit_default.csv"
        if candidate.is_file():
            return candidate
    return None


def credit_default(path: Path) -> Table:
    """Features balance, income and student (1 for Yes); the target is the column ``default`` (1 for Yes, 3.3%)."""
    frame = pd.read_csv(path)  # header: default,student,balance,income
    features = np.column_stack([frame["balance"], frame["income"], frame["student"] == "Yes"]).astype(float)
    return features, np.asarray(frame["default"] == "Yes", dtype=np.int64)


def reference_set() -> Table:
    """30,000 synthetic cases, 20 features (8 informative, 4 redundant), 3 clusters per class, 0.5% labels flipped."""
    x, y = make_classification(
        n_samples=30000,
        n_features=20,
        n_informative=8,
        n_redundant=4,
        n_clusters_per_class=3,
        flip_y=0.005,
        random_state=0,
    )
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64)
