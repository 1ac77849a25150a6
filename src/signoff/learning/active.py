"""Active learning's choice of cases to label: those the model is least sure of, drawn at random with a known
probability per case.

Uncertainty sampling alone picks cases deterministically and never looks where the model is confident, so the
labels it yields say nothing unbiased about the whole population. Here every case keeps a chance of being drawn
(``epsilon`` of the draw is uniform), and each chosen case comes with its inclusion probability: weighting its label
by the inverse (Horvitz-Thompson) keeps estimates and training weights unbiased, as for the random audit sample.

The draw is systematic sampling with probability proportional to size, over the pool in random order: exactly
``size`` distinct cases, case ``i`` chosen with probability ``p_i`` exactly, where ``p_i`` is proportional to
``(1 - epsilon) * exp(-margin_i / temperature) / sum + epsilon / n``, capped at 1 (a capped case is certain and the
rest share what is left).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Strategy = Literal["margin", "random"]
STRATEGIES: tuple[Strategy, ...] = ("margin", "random")


@dataclass(frozen=True)
class Selection:
    """The chosen cases: positions in the pool, each with its inclusion probability (in (0, 1]) and margin."""

    indices: npt.NDArray[np.intp]
    probabilities: Floats
    margins: Floats


def margins(probabilities: Sequence[Sequence[float]] | Floats) -> Floats:
    """Per case, the top class probability minus the second: 0 where the model cannot tell two labels apart."""
    try:
        p = np.asarray(probabilities, dtype=np.float64)
    except ValueError:
        raise ValueError("probabilities must be a table of numbers, one row of the same length per case") from None
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"probabilities must be a (cases, labels >= 2) table, got shape {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError("probabilities must be finite")
    top_two = np.partition(p, -2, axis=1)[:, -2:]
    return np.asarray(top_two[:, 1] - top_two[:, 0], dtype=np.float64)


def inclusion_probabilities(
    margin: Floats, size: int, *, strategy: Strategy = "margin", epsilon: float = 0.1, temperature: float = 0.1
) -> Floats:
    """Each case's probability of being among ``size`` drawn from the pool; they sum to ``size``, all in (0, 1].
    ``random`` draws uniformly (``size / n`` each)."""
    n = len(margin)
    if not 0 <= size <= n:
        raise ValueError(f"cannot draw {size} cases from a pool of {n}")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {list(STRATEGIES)}, got {strategy!r}")
    if not 0 < epsilon <= 1 or not temperature > 0:
        raise ValueError(f"epsilon must be in (0, 1] and temperature > 0, got {epsilon} and {temperature}")
    if n == 0:
        return np.zeros(0)
    share = np.full(n, 1.0 / n)
    if strategy == "margin":
        m = np.asarray(margin, dtype=np.float64)
        weight = np.exp(-(m - m.min()) / temperature)  # shifted: the same shares, no underflow of them all
        share = (1 - epsilon) * weight / weight.sum() + epsilon / n
    return _capped(share, size)


def _capped(share: Floats, size: int) -> Floats:
    """``size * share`` with every value above 1 set to 1 and the others scaled up to keep the sum at ``size``."""
    certain = np.zeros(len(share), dtype=bool)
    while True:
        left = size - int(certain.sum())
        rest = share[~certain].sum()
        p = np.where(certain, 1.0, share * left / rest if rest > 0 else 0.0)
        over = (p >= 1.0) & ~certain
        if not over.any():
            return np.asarray(np.minimum(p, 1.0), dtype=np.float64)
        certain |= over


def select(
    margin: Floats,
    size: int,
    rng: np.random.Generator,
    *,
    strategy: Strategy = "margin",
    epsilon: float = 0.1,
    temperature: float = 0.1,
) -> Selection:
    """Draw ``size`` distinct cases from the pool whose margins are ``margin`` (see the module's docstring)."""
    p = inclusion_probabilities(margin, size, strategy=strategy, epsilon=epsilon, temperature=temperature)
    if size == 0:
        return Selection(np.zeros(0, dtype=np.intp), np.zeros(0), np.zeros(0))
    order = rng.permutation(len(p))
    ends = np.cumsum(p[order])
    ends *= size / ends[-1]  # the sum is ``size`` up to rounding: make it exact so every point falls inside
    points = rng.random() + np.arange(size)
    chosen = order[np.minimum(np.searchsorted(ends, points, side="right"), len(p) - 1)]
    m = np.asarray(margin, dtype=np.float64)
    return Selection(chosen.astype(np.intp), p[chosen], m[chosen])
