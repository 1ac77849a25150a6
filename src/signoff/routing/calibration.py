"""Thresholds with guarantees: each result states exactly what it promises, on how many verified cases.

The input is a calibration set of human-verified cases: ``score`` is the confidence the engine ranks by
(higher = more confident, e.g. the top-class probability) and ``correct`` says whether the model's label
matched the human one. Cases with ``score >= threshold`` are decided automatically; the others go to review.
Every guarantee assumes that the calibration cases and the future cases are exchangeable (drawn from the same
distribution); none survives a shift in the data or a new model version, so certify again after either.

Three guarantees, which are not interchangeable:

- ``certify_selective`` (and its peer ``sgr``): the error rate among auto-decided cases is <= alpha, with
  probability >= 1 - delta over the draw of the calibration set.
- ``conformal_risk_control``: the share of all cases that are auto-decided and wrong is <= alpha, in
  expectation over the calibration set (no delta). A weaker, easier promise: with 50% deferral it allows
  twice the error rate among the auto-decided cases.
- ``conformal_quantile``/``conformal_sets``: the true label is inside the prediction set for >= 1 - alpha of
  cases, in expectation and marginally. It says nothing about the error among cases whose set is a single label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from signoff.errors import InvalidInput, Problem

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]

Guarantee = Literal["selective error", "joint error (expected)", "coverage of prediction sets"]
Method = Literal["learn-then-test", "sgr", "conformal risk control", "split conformal"]
Procedure = Literal["fallback", "fixed-sequence"]


def _percent(share: float, min_decimals: int) -> str:
    """``0.01`` -> ``"1.0%"`` (with ``min_decimals=1``): as few decimals as show the value exactly."""
    value = round(100 * share, 9)
    for decimals in range(min_decimals, 7):
        if abs(value - round(value, decimals)) < 1e-9:
            return f"{value:.{decimals}f}%"
    return f"{value:.6g}%"


def _shown(value: float) -> str:
    """Four significant digits, more if rounding would show a score below 1 as 1 (or above 0 as 0)."""
    if not math.isfinite(value):
        return str(value)
    for digits in range(4, 18):
        text = f"{value:.{digits}g}"
        if all(np.sign(float(text) - limit) == np.sign(value - limit) for limit in (0.0, 1.0)):
            return text
    return repr(value)


def _claim(guarantee: Guarantee, alpha: float, delta: float | None) -> str:
    if guarantee == "selective error":
        assert delta is not None
        return f"error among auto-decided cases <= {_percent(alpha, 1)} with probability >= {_percent(1 - delta, 0)}"
    if guarantee == "joint error (expected)":
        return f"share of all cases that are auto-decided and wrong <= {_percent(alpha, 1)} in expectation"
    return f"true label inside the prediction set for >= {_percent(1 - alpha, 0)} of cases in expectation"


@dataclass(frozen=True)
class Certificate:
    """A threshold and the guarantee it carries.

    ``empirical_error`` is measured on the calibration set with the guarantee's own denominator: errors among
    accepted cases (selective), auto-decided-and-wrong among all cases (joint), or calibration cases whose set
    misses the true label (sets). For sets, ``threshold`` is the conformal quantile ``qhat`` (a label enters a
    set when its probability is >= 1 - qhat) and ``accepted`` counts calibration cases whose set is one label.
    ``delta`` is None for the guarantees that hold in expectation.
    """

    guarantee: Guarantee
    alpha: float
    delta: float | None
    threshold: float
    calibration_size: int
    accepted: int
    empirical_error: float
    method: Method

    @property
    def statement(self) -> str:
        """One sentence with the type of guarantee, alpha, delta and the calibration size."""
        claim = _claim(self.guarantee, self.alpha, self.delta)
        source = f"{self.method} on {self.calibration_size:,} verified cases"
        if self.guarantee == "coverage of prediction sets":
            detail = (
                f"a label enters the set at probability >= {_shown(1 - self.threshold)}; "
                f"{self.accepted:,} of the verified cases get a single label"
            )
        elif self.accepted == 0:
            detail = "none accepted: every case goes to review"
        else:
            detail = f"{self.accepted:,} accepted at score >= {_shown(self.threshold)}"
        return f"{claim} ({source}; {detail})"


@dataclass(frozen=True)
class Refusal:
    """No threshold could be certified; ``reason`` says why in words, so the caller can act on it."""

    guarantee: Guarantee
    alpha: float
    delta: float | None
    calibration_size: int
    reason: str
    method: Method

    @property
    def statement(self) -> str:
        """One sentence: what could not be certified, and why."""
        return f"cannot certify {_claim(self.guarantee, self.alpha, self.delta)}: {self.reason}"


class PredictionSets(NamedTuple):
    """Split-conformal sets (m, k) and the quantile ``qhat`` they were cut at (``inf``: all labels)."""

    sets: Mask
    qhat: float


class RiskCoverage(NamedTuple):
    """Per distinct score, from the highest down: the share of cases accepted and the error among them."""

    coverage: Floats
    risk: Floats


# --- input checks -----------------------------------------------------------------------------------------


def _level(value: object, name: str, problems: list[Problem]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        problems.append(Problem(name, f"expected a number strictly between 0 and 1, got {value!r}"))
        return math.nan
    number = float(value)
    if not 0 < number < 1:
        problems.append(Problem(name, f"expected a number strictly between 0 and 1, got {number:g}"))
    return number


def _score_array(score: npt.ArrayLike, problems: list[Problem]) -> Floats:
    array = np.asarray(score)
    if array.ndim != 1:
        problems.append(Problem("score", f"expected a 1-dimensional array, got {array.ndim} dimension(s)"))
    elif array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number):
        problems.append(Problem("score", f"expected numbers, got {array.dtype}"))
    else:
        floats = array.astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(floats))
        if bad.size:
            problems.append(Problem("score", f"{bad.size:,} score(s) are NaN or infinite, the first at {bad[0]}"))
        return floats
    return np.zeros(0)


def _correct_array(correct: npt.ArrayLike, problems: list[Problem]) -> Mask:
    array = np.asarray(correct)
    if array.ndim != 1:
        problems.append(Problem("correct", f"expected a 1-dimensional array, got {array.ndim} dimension(s)"))
    elif array.dtype == np.bool_:
        return array
    elif np.issubdtype(array.dtype, np.number) and np.isin(array, (0, 1)).all():
        return array.astype(np.bool_)
    else:
        problems.append(Problem("correct", "expected booleans (or 0/1)"))
    return np.zeros(0, dtype=np.bool_)


def _calibration(score: npt.ArrayLike, correct: npt.ArrayLike, **levels: object) -> tuple[Floats, Mask, list[float]]:
    """The validated arrays and levels, or one InvalidInput listing every problem at once."""
    problems: list[Problem] = []
    scores = _score_array(score, problems)
    right = _correct_array(correct, problems)
    values = [_level(value, name, problems) for name, value in levels.items()]
    if not problems and scores.size != right.size:
        problems.append(Problem("correct", f"has {right.size:,} entries but score has {scores.size:,}"))
    if problems:
        raise InvalidInput(problems)
    return scores, right, values


# --- shared computations ----------------------------------------------------------------------------------


def _curve(score: Floats, correct: Mask) -> tuple[Floats, Ints, Ints]:
    """Distinct scores from the highest down, with the cases accepted and the errors among them at each.

    The candidates depend on the scores only, never on the labels: that is what lets fixed-sequence testing
    walk them in order without paying for the number of candidates.
    """
    order = np.argsort(-score, kind="stable")
    ranked = score[order]
    errors = np.cumsum(~correct[order], dtype=np.int64)
    ends = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))
    return ranked[ends], (ends + 1).astype(np.int64), errors[ends]


def _certificate_at(
    guarantee: Guarantee, method: Method, alpha: float, delta: float | None, curve: tuple[Floats, Ints, Ints], at: int
) -> Certificate:
    """The certificate of ``_curve``'s candidate ``at``, its empirical error by the guarantee's denominator: the
    accepted cases (selective) or every calibration case (joint)."""
    thresholds, accepted, errors = curve
    n = int(accepted[-1])  # the last candidate accepts every case
    denominator = accepted[at] if guarantee == "selective error" else n
    return Certificate(
        guarantee, alpha, delta, float(thresholds[at]), n, int(accepted[at]), float(errors[at] / denominator), method
    )


def _binomial_p_value(errors: npt.ArrayLike, accepted: npt.ArrayLike, alpha: float) -> Floats:
    """``P(Binomial(accepted, alpha) <= errors)``: small when so few errors are unlikely if the true rate were alpha."""
    from scipy import stats  # type: ignore[import-untyped, unused-ignore]  # here: importing it costs every start 0.6 s

    return np.asarray(stats.binom.cdf(errors, accepted, alpha), dtype=np.float64)


def minimum_calibration_size(alpha: float, delta: float) -> int:
    """Fewest verified cases that could show error <= alpha at confidence 1 - delta, if none of them were wrong.

    The smallest n with ``(1 - alpha) ** n <= delta``, i.e. ``ceil(log(delta) / log(1 - alpha))``: 299 for
    alpha = 1%, delta = 5%. Computed with the same p-value the test uses, so the two never disagree by a rounding.
    """
    _calibration([], [], alpha=alpha, delta=delta)
    n = max(1, math.ceil(math.log(delta) / math.log1p(-alpha)))
    while _binomial_p_value(0, n, alpha)[()] > delta:
        n += 1
    while n > 1 and _binomial_p_value(0, n - 1, alpha)[()] <= delta:
        n -= 1
    return n


def _too_few(guarantee: Guarantee, method: Method, alpha: float, delta: float | None, n: int, need: int) -> Refusal:
    return Refusal(
        guarantee,
        alpha,
        delta,
        n,
        f"{n:,} verified calibration cases, at least {need:,} are needed",
        method,
    )


# --- selective error, with probability 1 - delta ----------------------------------------------------------


def _errors(count: int) -> str:
    return f"{count:,} error" if count == 1 else f"{count:,} errors"


def _rungs(n: int, alpha: float, delta: float) -> tuple[int, int]:
    """How many rungs fit in n cases, and the cases the first rung needs at level ``delta / rungs``.

    Rung i (from 0) sits at ``first * 2**i`` accepted cases; there are as many rungs as fit below n. Depends on
    n, alpha and delta only, never on the labels, as the weights of a fallback procedure must.
    """
    rungs = 1
    while minimum_calibration_size(alpha, delta / (rungs + 1)) * 2**rungs <= n:
        rungs += 1
    return rungs, minimum_calibration_size(alpha, delta / rungs)


def certify_selective(
    score: npt.ArrayLike,
    correct: npt.ArrayLike,
    alpha: float,
    delta: float,
    *,
    procedure: Procedure = "fallback",
) -> Certificate | Refusal:
    """The lowest threshold whose error among accepted cases is <= alpha with probability >= 1 - delta.

    Learn then Test (Angelopoulos, Bates, Candès, Jordan & Lei 2021, "Learn then Test: Calibrating Predictive
    Algorithms to Achieve Risk Control"). Each candidate threshold t (the distinct scores, highest first) tests
    the null "error among cases with score >= t exceeds alpha" with the exact binomial p-value
    ``P(Binomial(accepted, alpha) <= errors)``. The order comes from the scores alone, so the tests need no
    Bonferroni correction over the candidates; the family-wise error is controlled by walking them in order:

    - ``"fixed-sequence"``: start at the first candidate accepting ``minimum_calibration_size`` cases (before
      it no test could pass), test each at level delta, stop at the first failure. One error among the first
      few hundred cases ends the walk there, which in practice often means a refusal.
    - ``"fallback"`` (default): the fallback procedure of Wiens 2003 ("A fixed sequence Bonferroni procedure
      for testing multiple endpoints"), a sequentially rejective graph of Bretz, Maurer, Brannath & Posch 2009
      and so a valid LTT procedure. Delta is split evenly over rungs at ``first * 2**i`` accepted cases; each
      rung restarts the walk with its share, and a walk that reaches the next rung unbroken carries its level
      there, so after a few rungs the tests run at nearly the full delta. With room for one rung only it is
      exactly ``"fixed-sequence"``.

    The certified threshold is the rejected candidate that accepts the most cases. The p-value is exact for a
    threshold fixed in advance; at the observed scores (the grid SGR uses too) it stays valid as long as errors
    do not get rarer as the score falls, and the tests check the guarantee by simulation.
    """
    scores, right, (alpha, delta) = _calibration(score, correct, alpha=alpha, delta=delta)
    if procedure not in ("fallback", "fixed-sequence"):
        raise InvalidInput([Problem("procedure", f"expected 'fallback' or 'fixed-sequence', got {procedure!r}")])
    n, need = scores.size, minimum_calibration_size(alpha, delta)
    if n < need:
        return _too_few("selective error", "learn-then-test", alpha, delta, n, need)
    rungs, first = _rungs(n, alpha, delta) if procedure == "fallback" else (1, need)
    thresholds, accepted, errors = _curve(scores, right)
    p_values = _binomial_p_value(errors, accepted, alpha)
    starts = [int(np.argmax(accepted >= first * 2**i)) for i in range(rungs)]
    level, last = 0.0, -1
    for begin, end in zip(starts, [*starts[1:], thresholds.size], strict=True):
        level += delta / rungs  # two rungs on one candidate (ties) add their shares
        passed = p_values[begin:end] <= level
        run = passed.size if passed.all() else int(np.argmin(passed))
        if run:
            last = begin + run - 1
        if run < passed.size:
            level = 0.0
    if last < 0:
        head = starts[0]
        reason = (
            f"the {accepted[head]:,} most confident cases (score >= {_shown(float(thresholds[head]))}), the fewest "
            f"that could pass, have {_errors(int(errors[head]))}, too many to certify"
        )
        if rungs > 1:
            reason += f", and the walk failed again from each of the {rungs - 1} later restart(s)"
        return Refusal("selective error", alpha, delta, n, reason, "learn-then-test")
    return _certificate_at("selective error", "learn-then-test", alpha, delta, (thresholds, accepted, errors), last)


def _upper_bound(errors: int, accepted: int, level: float) -> float:
    """Exact (Clopper-Pearson) one-sided upper bound on the error rate, holding with probability 1 - level."""
    if errors >= accepted:
        return 1.0
    from scipy import stats  # type: ignore[import-untyped, unused-ignore]

    return float(stats.beta.ppf(1 - level, errors + 1, accepted - errors))


def sgr(score: npt.ArrayLike, correct: npt.ArrayLike, alpha: float, delta: float) -> Certificate | Refusal:
    """Selection with guaranteed risk (Geifman & El-Yaniv 2017, "Selective Classification for Deep Neural Networks").

    Binary search over the sorted scores for ``ceil(log2 n)`` steps; each step bounds the error among accepted
    cases with an exact binomial upper bound at level ``delta / ceil(log2 n)`` (Bonferroni over the steps) and
    moves to lower thresholds when the bound is <= alpha. Kept as the standard peer for ``certify_selective``.
    Two deliberate departures from the paper's Algorithm 1: it outputs the last threshold tested even when its
    bound exceeds the target, we output the passing threshold that accepts the most cases (covered by the same
    union bound) and refuse when none passed; and a bound equal to alpha passes, as a p-value equal to delta
    does in ``certify_selective``.
    """
    scores, right, (alpha, delta) = _calibration(score, correct, alpha=alpha, delta=delta)
    n, need = scores.size, minimum_calibration_size(alpha, delta)
    if n < need:
        return _too_few("selective error", "sgr", alpha, delta, n, need)
    order = np.argsort(scores, kind="stable")
    ascending = scores[order]
    wrong_from = np.append(np.cumsum((~right[order])[::-1])[::-1], 0)  # errors among ascending[i:]
    steps = max(1, math.ceil(math.log2(n)))
    level = delta / steps
    low, high = 1, n  # 1-based ranks in ascending order, as in the paper
    best: tuple[float, int, int] | None = None
    for _ in range(steps):
        middle = math.ceil((low + high) / 2)
        threshold = float(ascending[middle - 1])
        first = int(np.searchsorted(ascending, threshold, side="left"))
        accepted, errors = n - first, int(wrong_from[first])
        if _upper_bound(errors, accepted, level) <= alpha:
            high = middle
            if best is None or accepted > best[1]:
                best = (threshold, accepted, errors)
        else:
            low = middle
    if best is None:
        reason = (
            f"none of the {steps} thresholds tested by binary search has an upper confidence bound "
            f"(at level {delta:g}/{steps}) on its error at or below {_percent(alpha, 1)}"
        )
        return Refusal("selective error", alpha, delta, n, reason, "sgr")
    threshold, accepted, errors = best
    return Certificate("selective error", alpha, delta, threshold, n, accepted, errors / accepted, "sgr")


# --- joint error, in expectation --------------------------------------------------------------------------


def conformal_risk_control(score: npt.ArrayLike, correct: npt.ArrayLike, alpha: float) -> Certificate | Refusal:
    """The lowest threshold whose expected share of auto-decided-and-wrong cases, among all cases, is <= alpha.

    Conformal risk control (Angelopoulos, Bates, Fisch, Lei & Schuster 2022, "Conformal Risk Control") with the
    loss ``L_i(t) = 1{score_i >= t and not correct_i}``, bounded by B = 1 and non-increasing in t: the smallest
    candidate t with ``n/(n+1) * mean_i L_i(t) + 1/(n+1) <= alpha``, which is ``(errors(t) + 1)/(n + 1) <= alpha``.
    The candidates are the distinct scores plus "accept nothing" (t = inf), so the result is a Certificate that
    accepts no case when even the most confident case is wrong; it is a Refusal only when ``1/(n+1) > alpha``.
    """
    scores, right, (alpha,) = _calibration(score, correct, alpha=alpha)
    n = scores.size
    if 1 / (n + 1) > alpha:
        need = max(0, math.ceil(1 / alpha) - 2)
        while 1 / (need + 1) > alpha:
            need += 1
        return _too_few("joint error (expected)", "conformal risk control", alpha, None, n, need)
    thresholds, accepted, errors = _curve(scores, right)
    feasible = (errors + 1) / (n + 1) <= alpha  # a prefix: errors only grow as the threshold falls
    chosen = int(feasible.sum()) - 1
    if chosen < 0:
        return Certificate("joint error (expected)", alpha, None, math.inf, n, 0, 0.0, "conformal risk control")
    return _certificate_at(
        "joint error (expected)", "conformal risk control", alpha, None, (thresholds, accepted, errors), chosen
    )


# --- prediction sets, coverage in expectation -------------------------------------------------------------


def _probability_matrix(p: npt.ArrayLike, name: str, problems: list[Problem]) -> Floats:
    array = np.asarray(p)
    if array.ndim != 2 or array.shape[1] < 2:
        problems.append(Problem(name, f"expected an array of shape (n, k) with k >= 2, got shape {array.shape}"))
    elif array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number):
        problems.append(Problem(name, f"expected numbers, got {array.dtype}"))
    elif not np.isfinite(array).all() or (array < 0).any() or (array > 1).any():
        problems.append(Problem(name, "every probability must be a finite number in [0, 1]"))
    else:
        return array.astype(np.float64)
    return np.zeros((0, 0))


def _nonconformity(
    cal_probabilities: npt.ArrayLike, cal_labels: npt.ArrayLike, problems: list[Problem]
) -> tuple[Floats, Floats]:
    """Calibration probabilities and their scores ``1 - p_true`` (problems are appended, not raised)."""
    before = len(problems)
    probabilities = _probability_matrix(cal_probabilities, "cal_probabilities", problems)
    valid_matrix = len(problems) == before
    labels = np.asarray(cal_labels)
    if labels.ndim != 1 or labels.dtype == np.bool_ or not np.issubdtype(labels.dtype, np.integer):
        problems.append(Problem("cal_labels", "expected a 1-dimensional array of label indices (integers)"))
    elif valid_matrix and labels.size != probabilities.shape[0]:
        rows = probabilities.shape[0]
        problems.append(Problem("cal_labels", f"has {labels.size:,} entries but cal_probabilities has {rows:,} rows"))
    elif valid_matrix and ((labels < 0).any() or (labels >= probabilities.shape[1]).any()):
        problems.append(Problem("cal_labels", f"every label index must be in [0, {probabilities.shape[1] - 1}]"))
    if problems:
        return probabilities, np.zeros(0)
    true = probabilities[np.arange(labels.size), labels]
    return probabilities, 1.0 - true


def _rank(n: int, alpha: float) -> int:
    """``ceil((n + 1)(1 - alpha))``, rounded to 9 decimals first so 0.9 * 100 counts as 90, not 90.00000000000001."""
    return math.ceil(round((n + 1) * (1 - alpha), 9))


def _qhat(scores: Floats, alpha: float) -> float:
    """The ``ceil((n + 1)(1 - alpha))``-th smallest calibration score; inf when that rank exceeds n."""
    rank = _rank(scores.size, alpha)
    if rank > scores.size:
        return math.inf
    return float(np.partition(scores, rank - 1)[rank - 1])


def _in_set(probabilities: Floats, qhat: float) -> Mask:
    # ``1 - p <= qhat`` rather than ``p >= 1 - qhat``: the same floating-point operation that made the
    # calibration scores, so a test case equal to a calibration case is decided exactly as its score was.
    return np.asarray(1.0 - probabilities <= qhat)


def conformal_sets(
    cal_probabilities: npt.ArrayLike, cal_labels: npt.ArrayLike, test_probabilities: npt.ArrayLike, alpha: float
) -> PredictionSets:
    """Split conformal prediction sets that hold the true label for >= 1 - alpha of cases, in expectation.

    Vovk, Gammerman & Shafer 2005, "Algorithmic Learning in a Random World"; the recipe of Angelopoulos & Bates
    2021, "A Gentle Introduction to Conformal Prediction and Distribution-Free Uncertainty Quantification", with
    the nonconformity score ``1 - p_true`` (Sadinle, Lei & Wasserman 2019). ``qhat`` is the
    ``ceil((n + 1)(1 - alpha))``-th smallest calibration score; when that rank exceeds n (fewer than
    ``1/alpha - 1`` calibration cases) no finite quantile works, so every set holds every label and
    ``qhat = inf``. The engine sends a case to review whenever its set is not a single label.
    """
    problems: list[Problem] = []
    calibration, scores = _nonconformity(cal_probabilities, cal_labels, problems)
    valid_calibration = not problems
    before = len(problems)
    test = _probability_matrix(test_probabilities, "test_probabilities", problems)
    if valid_calibration and len(problems) == before and test.shape[1] != calibration.shape[1]:
        labels = f"has {test.shape[1]} labels but cal_probabilities has {calibration.shape[1]}"
        problems.append(Problem("test_probabilities", labels))
    level = _level(alpha, "alpha", problems)
    if problems:
        raise InvalidInput(problems)
    qhat = _qhat(scores, level)
    if math.isinf(qhat):
        return PredictionSets(np.ones(test.shape, dtype=np.bool_), qhat)
    return PredictionSets(_in_set(test, qhat), qhat)


def conformal_quantile(
    cal_probabilities: npt.ArrayLike, cal_labels: npt.ArrayLike, alpha: float
) -> Certificate | Refusal:
    """The quantile ``qhat`` of ``conformal_sets`` with its coverage guarantee (``threshold`` is qhat).

    A Refusal when qhat would be inf: too few calibration cases for any set smaller than all labels. Coverage is
    marginal: averaged over cases and calibration draws, not per case or per label; and it bounds
    nothing about the error among cases whose set is a single label (use ``certify_selective`` for that).
    """
    problems: list[Problem] = []
    calibration, scores = _nonconformity(cal_probabilities, cal_labels, problems)
    level = _level(alpha, "alpha", problems)
    if problems:
        raise InvalidInput(problems)
    n, qhat = scores.size, _qhat(scores, level)
    if math.isinf(qhat):
        need = max(1, math.ceil(1 / level) - 2)
        while _rank(need, level) > need:
            need += 1
        reason = f"{n:,} verified calibration cases, at least {need:,} are needed"
        return Refusal("coverage of prediction sets", level, None, n, reason, "split conformal")
    single = int((_in_set(calibration, qhat).sum(axis=1) == 1).sum())
    missed = float((scores > qhat).mean())
    return Certificate("coverage of prediction sets", level, None, qhat, n, single, missed, "split conformal")


# --- description ------------------------------------------------------------------------------------------


def risk_coverage(score: npt.ArrayLike, correct: npt.ArrayLike) -> RiskCoverage:
    """The empirical risk-coverage curve, one point per distinct score taken as the threshold, highest first.

    Descriptive only (El-Yaniv & Wiener 2010, "On the Foundations of Noise-free Selective Classification"):
    the points carry no guarantee; the thresholds are ``np.unique(score)[::-1]``.
    """
    scores, right, _ = _calibration(score, correct)
    if scores.size == 0:
        return RiskCoverage(np.zeros(0), np.zeros(0))
    _, accepted, errors = _curve(scores, right)
    return RiskCoverage(accepted / scores.size, errors / accepted)
