"""Agreement between reviewers beyond what chance would give: Cohen's kappa, Fleiss' kappa, Krippendorff's alpha.

All three read 1 for perfect agreement and 0 for agreement at the level chance alone would produce; they go
negative when raters disagree systematically. They measure consistency between people, not correctness: a
team that agrees on the wrong answer scores 1. Gold tasks (``estimates.wilson_interval``) measure correctness.

Degenerate data (fewer than two items, or a single category used throughout, where chance agreement is already
perfect) has no meaningful coefficient: the functions return None rather than raising or returning NaN.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence

import numpy as np
import numpy.typing as npt

from signoff.errors import InvalidInput, Problem


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def cohen_kappa(first: Sequence[Hashable], second: Sequence[Hashable]) -> float | None:
    """Cohen's kappa for two raters who labelled the same items: ``(p_o - p_e) / (1 - p_e)``.

    ``p_o`` is the share of items on which they agree; ``p_e = sum_k p1_k p2_k`` is the agreement expected if
    each rater labelled independently with their own label frequencies. Source: J. Cohen (1960), "A coefficient
    of agreement for nominal scales", Educational and Psychological Measurement 20(1). Same value as
    ``sklearn.metrics.cohen_kappa_score`` (unweighted); None where that would return NaN (one label throughout).
    """
    if len(first) != len(second):
        raise InvalidInput([Problem("second", f"expected {len(first)} labels, one per item, got {len(second)}")])
    n = len(first)
    if n < 2:
        return None
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    left, right = Counter(first), Counter(second)
    expected = sum(count * right.get(label, 0) for label, count in left.items()) / (n * n)
    if math.isclose(expected, 1.0):
        return None
    return (observed - expected) / (1 - expected)


def fleiss_kappa(counts: npt.ArrayLike) -> float | None:
    """Fleiss' kappa for many raters, each item rated by the same number ``m`` of raters (not the same people).

    ``counts[i, j]`` is how many raters put item i in category j; every row sums to m. With
    ``P_i = sum_j n_ij (n_ij - 1) / (m (m - 1))`` the agreement on item i, ``P = mean_i P_i`` and
    ``P_e = sum_j p_j**2`` from the overall category shares ``p_j``: ``kappa = (P - P_e) / (1 - P_e)``.
    Source: J. L. Fleiss (1971), "Measuring nominal scale agreement among many raters", Psychological Bulletin
    76(5), eqs. 2-9; it reproduces his Table 1 (30 patients, 6 psychiatrists: kappa = .430). For ratings with
    gaps (different numbers per item) use ``krippendorff_alpha``.
    """
    table = np.asarray(counts, dtype=np.float64)
    if table.ndim != 2 or (table.size and not (np.isfinite(table).all() and (table >= 0).all())):
        raise InvalidInput([Problem("counts", "expected a table of non-negative counts, one row per item")])
    if table.shape[0] < 2 or table.shape[1] == 0:
        return None
    if not np.array_equal(table, np.round(table)):
        raise InvalidInput([Problem("counts", "counts must be whole numbers")])
    raters = table.sum(axis=1)
    if not (raters == raters[0]).all():
        raise InvalidInput(
            [Problem("counts", "every item needs the same number of ratings; use krippendorff_alpha for gaps")]
        )
    m = float(raters[0])
    if m < 2:
        return None
    agreement = float(((table * (table - 1)).sum(axis=1) / (m * (m - 1))).mean())
    shares = table.sum(axis=0) / (table.shape[0] * m)
    chance = float((shares**2).sum())
    if math.isclose(chance, 1.0):
        return None
    return (agreement - chance) / (1 - chance)


def krippendorff_alpha(units: Sequence[Sequence[Hashable | None]]) -> float | None:
    """Krippendorff's alpha for nominal values, allowing any number of ratings per item (missing ones too).

    ``units[u]`` holds the values given to item u, with None (or NaN) where a rater gave none; a units-by-raters
    table with gaps and ragged lists both work. Items with fewer than two values cannot be paired and are left
    out. From the coincidence matrix ``o_ck = sum_u (number of c-k pairs in u) / (m_u - 1)``, with ``n_c`` its
    margins and ``n`` the number of pairable values:
    ``alpha = 1 - (n - 1) * sum_{c != k} o_ck / sum_{c != k} n_c n_k``.
    Source: K. Krippendorff (2011), "Computing Krippendorff's alpha-reliability", Annenberg School for
    Communication, departmental paper 43, section C (its worked example with missing values gives .743).
    """
    values: list[list[Hashable]] = []
    for unit in units:
        given = [v for v in unit if not _missing(v)]
        if len(given) >= 2:
            values.append(given)
    if len(values) < 2:
        return None
    coincidences: defaultdict[tuple[Hashable, Hashable], float] = defaultdict(float)
    for given in values:
        counts = Counter(given)
        m = len(given)
        for c, n_c in counts.items():
            for k, n_k in counts.items():
                pairs = n_c * (n_k - 1) if c == k else n_c * n_k
                if pairs:
                    coincidences[(c, k)] += pairs / (m - 1)
    margins: defaultdict[Hashable, float] = defaultdict(float)
    for (c, _), o in coincidences.items():
        margins[c] += o
    n = sum(margins.values())
    observed = sum(o for (c, k), o in coincidences.items() if c != k)
    expected = n * n - sum(n_c * n_c for n_c in margins.values())
    if expected <= 1e-12 * n * n:
        return None
    return 1 - (n - 1) * observed / expected
