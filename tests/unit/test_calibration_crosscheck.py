"""The calibration methods against independent implementations.

Split conformal sets are compared with MAPIE and with crepes (the libraries are optional; each test is
skipped with a reason when its library is missing). Conformal risk control, learn-then-test and SGR are
compared with plain-Python transcriptions of the papers' definitions, written here without numpy or scipy.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from signoff.routing.calibration import (
    Certificate,
    certify_selective,
    conformal_risk_control,
    conformal_sets,
    sgr,
)

ALPHAS = [0.01, 0.02, 0.05, 0.1, 0.2]
Split = tuple[Pipeline, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _breast_cancer(seed: int) -> Split:
    """Train 40% / calibrate 30% / test 30%, stratified; returns the model, the calibration and test data."""
    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_rest, y_train, y_rest = train_test_split(x, y, train_size=0.4, random_state=seed, stratify=y)
    x_cal, x_test, y_cal, _ = train_test_split(x_rest, y_rest, train_size=0.5, random_state=seed, stratify=y_rest)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x_train, y_train)
    return model, x_cal, y_cal, x_test, model.predict_proba(x_cal), model.predict_proba(x_test)


def _only_ties_differ(ours: np.ndarray, theirs: np.ndarray, test: np.ndarray, qhat: float) -> None:
    """MAPIE admits a label when ``1 - p <= qhat + 1e-8``; only labels that close to the cut may differ."""
    differ = ours != theirs
    assert np.all(np.abs((1 - test[differ]) - qhat) <= 1e-8), f"{differ.sum()} set entries differ off a tie"


@pytest.mark.parametrize("seed", range(3))
def test_conformal_sets_match_mapie(seed: int) -> None:
    classification = pytest.importorskip("mapie.classification", reason="MAPIE is not installed")
    model, x_cal, y_cal, x_test, cal, test = _breast_cancer(seed)
    for alpha in ALPHAS:
        ours, qhat = conformal_sets(cal, y_cal, test, alpha)
        mapie = classification.SplitConformalClassifier(estimator=model, confidence_level=1 - alpha, prefit=True)
        _, theirs = mapie.conformalize(x_cal, y_cal).predict_set(x_test)
        _only_ties_differ(ours, theirs[:, :, 0], test, qhat)


@pytest.mark.parametrize("seed", range(3))
def test_conformal_sets_match_crepes(seed: int) -> None:
    crepes = pytest.importorskip("crepes", reason="crepes is not installed")
    extras = pytest.importorskip("crepes.extras", reason="crepes is not installed")
    model, _, y_cal, _, cal, test = _breast_cancer(seed)
    # crepes admits a label when its p-value (#{calibration scores >= s} + 1) / (n + 1) is >= alpha. That is
    # our quantile rule when (n + 1) * alpha is not a whole number (as here, n = 171); when it is, crepes admits
    # one more rank (p == alpha), so its sets can only be larger.
    conformal = crepes.ConformalClassifier().fit(extras.hinge(cal, model.classes_, y_cal))
    for alpha in ALPHAS:
        assert (len(y_cal) + 1) * alpha % 1 != 0
        ours, _ = conformal_sets(cal, y_cal, test, alpha)
        theirs = conformal.predict_set(extras.hinge(test), confidence=1 - alpha, smoothing=False)
        assert np.array_equal(ours, theirs.astype(bool))


def test_a_test_case_equal_to_a_calibration_case_is_decided_like_it() -> None:
    classification = pytest.importorskip("mapie.classification", reason="MAPIE is not installed")
    model, x_cal, y_cal, _, cal, _ = _breast_cancer(0)
    for alpha in ALPHAS:
        ours, qhat = conformal_sets(cal, y_cal, cal, alpha)
        covered = ours[np.arange(len(y_cal)), y_cal]
        assert covered.sum() == (1 - cal[np.arange(len(y_cal)), y_cal] <= qhat).sum()
        _, theirs = (
            classification.SplitConformalClassifier(estimator=model, confidence_level=1 - alpha, prefit=True)
            .conformalize(x_cal, y_cal)
            .predict_set(x_cal)
        )
        _only_ties_differ(ours, theirs[:, :, 0], cal, qhat)


# --- plain-Python transcriptions ----------------------------------------------------------------------------


def _cases(seed: int, n: int, ties: bool) -> tuple[list[float], list[bool]]:
    rng = np.random.default_rng(seed)
    score = rng.uniform(0.5, 1.0, n)
    if ties:
        score = np.round(score, 2)
    correct = rng.random(n) < score**0.3
    return [float(s) for s in score], [bool(c) for c in correct]


def _binomial_cdf(k: int, n: int, p: float) -> float:
    """P(Binomial(n, p) <= k), summed term by term in log space."""
    total = 0.0
    for j in range(k + 1):
        log_term = math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1)
        total += math.exp(log_term + j * math.log(p) + (n - j) * math.log1p(-p))
    return min(total, 1.0)


def _counts(score: list[float], correct: list[bool]) -> dict[float, tuple[int, int]]:
    """For every distinct score t: the cases with score >= t and the errors among them, in one pass."""
    table: dict[float, tuple[int, int]] = {}
    accepted = errors = 0
    for s, c in sorted(zip(score, correct, strict=True), reverse=True):
        accepted, errors = accepted + 1, errors + (not c)
        table[s] = (accepted, errors)
    return table


def _fewest(alpha: float, level: float) -> int:
    n = 1
    while _binomial_cdf(0, n, alpha) > level:
        n += 1
    return n


def _ltt_by_definition(score: list[float], correct: list[bool], alpha: float, delta: float, fallback: bool) -> float:
    """Wiens's fallback procedure over every candidate, or fixed-sequence from the minimum size; inf: refused."""
    n = len(score)
    rungs = 1
    if fallback:
        while _fewest(alpha, delta / (rungs + 1)) * 2**rungs <= n:
            rungs += 1
    first = _fewest(alpha, delta / rungs)
    if n < first:
        return math.inf
    counts = _counts(score, correct)
    candidates = sorted(counts, reverse=True)
    weights = [0.0] * len(candidates)
    for i in range(rungs):
        j = next(j for j, t in enumerate(candidates) if counts[t][0] >= first * 2**i)
        weights[j] += 1 / rungs
    level, rejected, best = 0.0, False, math.inf
    for j, t in enumerate(candidates):
        level = delta * weights[j] + (level if rejected else 0.0)
        accepted, errors = counts[t]
        rejected = level > 0 and _binomial_cdf(errors, accepted, alpha) <= level
        if rejected:
            best = t
    return best


def _sgr_by_definition(score: list[float], correct: list[bool], alpha: float, delta: float) -> float:
    """Geifman & El-Yaniv's Algorithm 1, keeping the passing threshold that accepts the most; inf: refused."""
    n = len(score)
    ascending = sorted(score)
    steps = max(1, math.ceil(math.log2(n)))
    level = delta / steps
    counts = _counts(score, correct)
    low, high, best = 1, n, math.inf
    for _ in range(steps):
        middle = math.ceil((low + high) / 2)
        t = ascending[middle - 1]
        accepted, errors = counts[t]
        bound = 1.0
        if errors < accepted:  # Clopper-Pearson upper bound by bisection: P(Bin(accepted, b) <= errors) = level
            lo, hi = 0.0, 1.0
            for _ in range(100):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if _binomial_cdf(errors, accepted, mid) > level else (lo, mid)
            bound = hi
        if bound <= alpha:
            high, best = middle, min(best, t)
        else:
            low = middle
    return best


def _crc_by_definition(score: list[float], correct: list[bool], alpha: float) -> float:
    """The smallest t on a grid holding every score, every midpoint and inf with n/(n+1) R(t) + 1/(n+1) <= alpha."""
    n = len(score)
    distinct = sorted(set(score))
    grid = [*distinct, *((a + b) / 2 for a, b in itertools.pairwise(distinct)), math.inf]
    feasible = [
        t
        for t in grid
        if n / (n + 1) * sum(1 for s, c in zip(score, correct, strict=True) if s >= t and not c) / n + 1 / (n + 1)
        <= alpha
    ]
    return min(feasible)


def _threshold(result: object) -> float:
    return result.threshold if isinstance(result, Certificate) else math.inf


CASES = [(seed, n, ties) for seed in range(4) for n, ties in ((400, False), (1500, False), (1500, True))]


@pytest.mark.parametrize(("seed", "n", "ties"), CASES)
@pytest.mark.parametrize("alpha", [0.02, 0.05, 0.1])
def test_learn_then_test_matches_its_definition(seed: int, n: int, ties: bool, alpha: float) -> None:
    score, correct = _cases(seed, n, ties)
    for procedure in ("fallback", "fixed-sequence"):
        ours = _threshold(certify_selective(score, correct, alpha, 0.05, procedure=procedure))
        assert ours == _ltt_by_definition(score, correct, alpha, 0.05, fallback=procedure == "fallback")


@pytest.mark.parametrize(("seed", "n", "ties"), CASES)
@pytest.mark.parametrize("alpha", [0.02, 0.05, 0.1])
def test_sgr_matches_its_definition(seed: int, n: int, ties: bool, alpha: float) -> None:
    score, correct = _cases(seed, n, ties)
    assert _threshold(sgr(score, correct, alpha, 0.05)) == _sgr_by_definition(score, correct, alpha, 0.05)


@pytest.mark.parametrize(
    ("seed", "n", "ties"), [(seed, n, ties) for seed in range(6) for n, ties in ((60, False), (300, True))]
)
@pytest.mark.parametrize("alpha", [0.02, 0.05, 0.1, 0.3])
def test_conformal_risk_control_matches_a_brute_force_search(seed: int, n: int, ties: bool, alpha: float) -> None:
    score, correct = _cases(seed, n, ties)
    ours = conformal_risk_control(score, correct, alpha)
    if 1 / (n + 1) > alpha:
        assert not isinstance(ours, Certificate)
        return
    best = _crc_by_definition(score, correct, alpha)
    # The search over a continuum picks the midpoint just above the next lower score at best; we report the
    # observed score at the top of that interval, which accepts the same calibration cases.
    above = min((s for s in score if s >= best), default=math.inf)
    assert _threshold(ours) == above
