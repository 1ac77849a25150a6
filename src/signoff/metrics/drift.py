"""Data drift per feature and score drift against the training reference: the population stability index.

``PSI = sum_b (a_b - e_b) * ln(a_b / e_b)`` over bins b, where ``e_b`` is the reference (training) share and
``a_b`` the current share of cases in bin b. It is a symmetrised Kullback-Leibler divergence between the two
binned distributions (Yurdakul 2018, "Statistical properties of the population stability index", Western
Michigan University). The customary reading in credit scoring is: below 0.1 stable, 0.1 to 0.25 a moderate
shift worth a look, above 0.25 a significant shift (Siddiqi 2006, "Credit Risk Scorecards", Wiley, ch. 8).
Those cut-offs are conventions, not tests: PSI grows with the number of bins and, on small samples, with noise.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from signoff.errors import InvalidInput, Problem

Floats = npt.NDArray[np.float64]
Level = Literal["stable", "moderate", "significant"]

EPSILON = 1e-4
"""The share given to a bin that is empty in one sample, so ``ln(a/e)`` stays finite.

Without it, a single value in a bin the reference never saw would make PSI infinite. 1e-4 (0.01%) is small next
to any share a 10-bin split produces, so it hardly moves PSI when both samples fill every bin, and it caps what
one empty bin can add at about ``a * ln(a / 1e-4)`` (0.69 for a bin holding 10% of the current cases).
"""


@dataclass(frozen=True)
class Stability:
    """PSI between a reference and a current sample, the number of bins, and the sample sizes."""

    psi: float
    bins: int
    n_reference: int
    n_current: int

    @property
    def level(self) -> Level:
        """Siddiqi's reading: stable below 0.1, moderate up to 0.25, significant above."""
        if self.psi < 0.1:
            return "stable"
        return "moderate" if self.psi <= 0.25 else "significant"


def _psi(expected: Floats, actual: Floats) -> float:
    e = np.where(expected > 0, expected, EPSILON)
    a = np.where(actual > 0, actual, EPSILON)
    return float(((a - e) * np.log(a / e)).sum())


def _numbers(values: npt.ArrayLike, name: str) -> Floats:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or np.isinf(array).any():
        raise InvalidInput([Problem(name, "expected a one-dimensional array of finite numbers (NaN for missing)")])
    return array


def quantile_edges(reference: npt.ArrayLike, bins: int = 10) -> Floats:
    """The inner bin edges: the reference's 1/bins, 2/bins, ... quantiles, repeated values merged.

    A value ``x`` falls in bin ``searchsorted(edges, x, side="right")``: the first bin is everything below the
    first edge, the last everything from the last edge up, so current values outside the reference's range
    still land in the outer bins. Heavy ties (a feature that is 0 for half the cases) give fewer bins.
    """
    if bins < 2:
        raise InvalidInput([Problem("bins", f"expected at least 2 bins, got {bins}")])
    values = _numbers(reference, "reference")
    values = values[~np.isnan(values)]
    if values.size == 0:
        return np.empty(0)
    return np.asarray(np.unique(np.quantile(values, np.arange(1, bins) / bins)), dtype=np.float64)


def psi_numeric(reference: npt.ArrayLike, current: npt.ArrayLike, bins: int = 10) -> Stability | None:
    """PSI of a numeric feature over ``bins`` quantile bins of the reference (see ``quantile_edges``).

    Quantile bins give every bin about the same reference share, so no bin is nearly empty in the reference
    and the index is not dominated by a noisy tail. Missing values (NaN) form a bin of their own, so a rise in
    missing values counts as drift. None when either sample is empty.
    """
    ref = _numbers(reference, "reference")
    cur = _numbers(current, "current")
    edges = quantile_edges(ref, bins)
    return psi_binned(binned(edges, ref), binned(edges, cur))


def binned(edges: Floats, sample: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """How many values of ``sample`` fall in each bin of ``edges`` (see ``quantile_edges``), and last how many are
    missing (NaN): counts add up, so a window's counts are the sum of its hours'."""
    values = _numbers(sample, "sample")
    present = values[~np.isnan(values)]
    counts = np.bincount(np.searchsorted(edges, present, side="right"), minlength=edges.size + 1)
    return np.append(counts, values.size - present.size).astype(np.int64)


def psi_binned(expected: npt.ArrayLike, actual: npt.ArrayLike) -> Stability | None:
    """PSI from the bin counts of the reference and of the current sample (``binned``); None when either is
    empty. Bins empty in both are not counted."""
    before, after = np.asarray(expected, dtype=np.int64), np.asarray(actual, dtype=np.int64)
    n_reference, n_current = int(before.sum()), int(after.sum())
    if n_reference == 0 or n_current == 0:
        return None
    shares_before, shares_after = before / n_reference, after / n_current
    used = (shares_before > 0) | (shares_after > 0)
    return Stability(_psi(shares_before[used], shares_after[used]), int(used.sum()), n_reference, n_current)


def psi_categorical(reference: npt.ArrayLike, current: npt.ArrayLike) -> Stability | None:
    """PSI of a categorical feature, one bin per category seen in either sample (None is a category too).

    A category that appears only in the current window (a new country, a new product) gets the share
    ``EPSILON`` in the reference, so it raises PSI in proportion to how common it has become. None when either
    sample is empty.
    """
    return psi_counted(categories(reference), categories(current))


def categories(sample: npt.ArrayLike) -> Counter[Hashable]:
    """How often each category appears in ``sample`` (None and NaN are one category)."""
    return Counter(category(v) for v in np.asarray(sample, dtype=object).ravel())


def psi_counted(before: Mapping[Any, int], after: Mapping[Any, int]) -> Stability | None:
    """PSI from category counts, one bin per category seen in either; None when either is empty."""
    n_reference, n_current = sum(before.values()), sum(after.values())
    if not n_reference or not n_current:
        return None
    seen = [c for c in {**before, **after} if before.get(c, 0) or after.get(c, 0)]
    expected = np.array([before.get(c, 0) for c in seen], dtype=np.float64) / n_reference
    actual = np.array([after.get(c, 0) for c in seen], dtype=np.float64) / n_current
    return Stability(_psi(expected, actual), len(seen), n_reference, n_current)


def category(value: object) -> Hashable:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value if isinstance(value, Hashable) else repr(value)


def _is_numeric(values: npt.ArrayLike) -> bool:
    return np.asarray(values).dtype.kind in "iuf"


def feature_drift(
    reference: Mapping[str, npt.ArrayLike], current: Mapping[str, npt.ArrayLike], bins: int = 10
) -> dict[str, Stability | None]:
    """PSI per feature present in both samples: quantile bins for numbers, one bin per value otherwise.

    Booleans, strings and other objects are treated as categories; integers and floats as numbers. A feature
    missing from either mapping is skipped.
    """
    result: dict[str, Stability | None] = {}
    for name in reference:
        if name not in current:
            continue
        if _is_numeric(reference[name]) and _is_numeric(current[name]):
            result[name] = psi_numeric(reference[name], current[name], bins)
        else:
            result[name] = psi_categorical(reference[name], current[name])
    return result


@dataclass(frozen=True)
class ScoreDrift:
    """How the model's scores moved from the training reference: PSI, the KS distance and the two means."""

    stability: Stability
    ks: float
    mean_reference: float
    mean_current: float


def ks_distance(reference: npt.ArrayLike, current: npt.ArrayLike) -> float | None:
    """The two-sample Kolmogorov-Smirnov statistic: the largest gap between the two empirical CDFs.

    Reported as a distance, without a p-value: over thousands of cases any shift is "significant", and the
    question for an operator is how large it is. Same value as ``scipy.stats.ks_2samp(...).statistic``.
    """
    ref = np.sort(_numbers(reference, "reference"))
    cur = np.sort(_numbers(current, "current"))
    ref, cur = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    if ref.size == 0 or cur.size == 0:
        return None
    points = np.concatenate([ref, cur])
    gap = np.searchsorted(ref, points, side="right") / ref.size - np.searchsorted(cur, points, side="right") / cur.size
    return float(np.abs(gap).max())


FINE_BINS = 1000
"""Score bins of width 1/1000 for ``ks_binned``: scores are probabilities, so in [0, 1]."""


def fine_bin(score: float) -> int:
    """The 1/1000-wide bin of a score in [0, 1] (1.0 in the last)."""
    return min(max(int(score * FINE_BINS), 0), FINE_BINS - 1)


def ks_binned(expected: npt.ArrayLike, actual: npt.ArrayLike) -> float | None:
    """The KS distance between two samples given as counts over the same bins, from the two empirical CDFs at the
    bins' upper edges. Within a bin either CDF moves by at most that bin's share, so the exact distance lies in
    ``[d, d + largest share of one bin in either sample]``; over ``fine_bin``'s 1/1000-wide bins that is below
    0.01 unless the scores pile up on a few values. None when either sample is empty."""
    before, after = np.asarray(expected, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    if before.sum() == 0 or after.sum() == 0:
        return None
    gap = np.cumsum(before) / before.sum() - np.cumsum(after) / after.sum()
    return float(np.abs(gap).max())


def score_drift(reference_scores: npt.ArrayLike, current_scores: npt.ArrayLike, bins: int = 10) -> ScoreDrift | None:
    """Drift of the model's scores (e.g. top-class probability) against the scores on its training reference.

    A score distribution that moves while the inputs look stable points at the model or its serving; inputs
    that move with the scores point at the population. PSI on scores is the original use of the index in
    credit scoring (Siddiqi 2006). None when either sample has no score.
    """
    ref = _numbers(reference_scores, "reference_scores")
    cur = _numbers(current_scores, "current_scores")
    ref, cur = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    stability = psi_numeric(ref, cur, bins)
    ks = ks_distance(ref, cur)
    if stability is None or ks is None:
        return None
    return ScoreDrift(stability, ks, float(ref.mean()), float(cur.mean()))
