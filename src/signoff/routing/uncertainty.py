"""How unsure a model is about each case, from its class probabilities or from several members' probabilities.

These are ranking scores that order cases for review or for active learning; all grow with uncertainty except
``margin``, which shrinks. The single-model scores are the uncertainty sampling measures of Settles 2009,
"Active Learning Literature Survey" (section 3.1); vote entropy is the query-by-committee disagreement of
Dagan & Engelson 1995, "Committee-Based Sampling for Training Probabilistic Classifiers". None of them is a
guarantee by itself; the guarantees are in ``signoff.routing.calibration``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from signoff.errors import InvalidInput, Problem

Floats = npt.NDArray[np.float64]


def _probabilities(p: npt.ArrayLike, name: str, ndim: int, min_labels: int = 1) -> Floats:
    """The array as floats, or InvalidInput naming ``name``: every score below assumes a real distribution."""
    array = np.asarray(p, dtype=np.float64)
    shape = "(n, k)" if ndim == 2 else "(m, n, k)"
    if array.ndim != ndim:
        raise InvalidInput([Problem(name, f"expected an array of shape {shape}, got {array.ndim} dimension(s)")])
    if array.shape[-1] < min_labels:
        raise InvalidInput([Problem(name, f"expected at least {min_labels} label(s), got {array.shape[-1]}")])
    if ndim == 3 and array.shape[0] == 0:
        raise InvalidInput([Problem(name, "expected at least one member")])
    if not np.isfinite(array).all():
        raise InvalidInput([Problem(name, "a probability is NaN or infinite")])
    if (array < 0).any() or (array > 1).any():
        raise InvalidInput([Problem(name, "a probability is outside [0, 1]")])
    return array


def _entropy_of_rows(p: Floats) -> Floats:
    # 0 * log 0 is taken as 0 (its limit); log is only evaluated where p > 0 so no warning is raised.
    safe = np.where(p > 0, p, 1.0)
    return np.asarray(-(p * np.log(safe)).sum(axis=-1), dtype=np.float64)


def least_confidence(p: npt.ArrayLike) -> Floats:
    """``1 - max_k p``: how much probability the model's own choice leaves to the other labels."""
    probabilities = _probabilities(p, "p", ndim=2)
    return np.asarray(1.0 - probabilities.max(axis=1), dtype=np.float64)


def margin(p: npt.ArrayLike) -> Floats:
    """Top probability minus the runner-up; small means two labels are nearly tied (so lower = more unsure)."""
    probabilities = _probabilities(p, "p", ndim=2, min_labels=2)
    top_two = np.partition(probabilities, -2, axis=1)[:, -2:]
    return np.asarray(top_two[:, 1] - top_two[:, 0], dtype=np.float64)


def entropy(p: npt.ArrayLike) -> Floats:
    """Shannon entropy in nats; unlike the two above it looks at every label, not only the top ones."""
    return _entropy_of_rows(_probabilities(p, "p", ndim=2))


def vote_entropy(members: npt.ArrayLike) -> Floats:
    """Entropy (nats) of the members' argmax votes: 0 when all agree, ``log(min(m, k))`` at most.

    ``members`` has shape (m, n, k): m ensemble members or model versions. A tie inside one member's row
    counts as a vote for the first tied label, as ``argmax`` does.
    """
    stacked = _probabilities(members, "members", ndim=3)
    votes = stacked.argmax(axis=2)  # (m, n)
    labels = np.arange(stacked.shape[2])
    shares = (votes[:, :, None] == labels).mean(axis=0)  # (n, k)
    return _entropy_of_rows(shares)


def spread(members: npt.ArrayLike) -> Floats:
    """Standard deviation (population, ddof=0) across members of the probability of the ensemble's choice.

    The ensemble's choice is the argmax of the members' mean; a member-disagreement score that, unlike vote
    entropy, also sees members that agree on the label but not on how sure they are.
    """
    stacked = _probabilities(members, "members", ndim=3)
    top = stacked.mean(axis=0).argmax(axis=1)  # (n,)
    on_top = np.take_along_axis(stacked, np.broadcast_to(top[None, :, None], (stacked.shape[0], top.size, 1)), 2)
    return np.asarray(on_top[:, :, 0].std(axis=0), dtype=np.float64)
