"""Fairness by group: rates by hand, Fairlearn's gaps against their definitions, and drift between windows."""

from __future__ import annotations

import numpy as np
import pytest

from signoff.errors import InvalidInput
from signoff.metrics.fairness import (
    FairnessReport,
    GroupRates,
    Movement,
    counted_report,
    demographic_parity_difference,
    equalized_odds_difference,
    fairness_drift,
    fairness_report,
)

# Nine cases: four in group A, five in B.
GROUPS = ["A", "A", "A", "A", "B", "B", "B", "B", "B"]
FLAGGED = [1, 1, 0, 0, 1, 0, 0, 0, 0]
APPROVED = [1, 1, 0, 1, 1, 1, 0, 0, 1]
OVERRIDDEN = [True, False, None, None, False, None, None, None, None]
TRUTH = [True, False, False, True, True, True, False, False, None]


def test_group_rates_and_gaps_by_hand() -> None:
    report = fairness_report(GROUPS, FLAGGED, APPROVED, OVERRIDDEN, TRUTH)
    # A: flagged 2/4, approved 3/4, overridden 1 of 2 reviewed, wrong 1 of 4 labelled (approved, truth no)
    assert report.groups["A"] == GroupRates(4, 0.5, 0.75, 2, 0.5, 4, 0.25)
    # B: flagged 1/5, approved 3/5, overridden 0 of 1 reviewed, wrong 0 of 4 labelled
    assert report.groups["B"] == GroupRates(5, 0.2, 0.6, 1, 0.0, 4, 0.0)
    # demographic parity: 0.75 - 0.6 = 0.15
    assert report.demographic_parity_difference == pytest.approx(0.15)
    # labelled cases: A TPR 2/2 = 1, FPR 1/2; B TPR 2/2 = 1, FPR 0/2 -> max(|1-1|, |0.5-0|) = 0.5
    assert report.equalized_odds_difference == pytest.approx(0.5)


def test_rates_without_reviews_or_outcomes_are_none() -> None:
    report = fairness_report(["A", "A", None], [0, 1, 0], [1, 1, 0], [None, None, None], [None, None, None])
    assert report.groups["A"].override_rate is None
    assert report.groups["(missing)"].error_rate is None
    assert report.groups["(missing)"].n == 1
    assert report.equalized_odds_difference is None  # nothing labelled


def _gaps_by_definition(truth: np.ndarray, approved: np.ndarray, groups: np.ndarray) -> tuple[float, float]:
    """Demographic parity and equalized odds (worst of TPR and FPR gaps), straight from their definitions."""
    names = np.unique(groups)
    selection = [approved[groups == g].mean() for g in names]
    tpr = [approved[(groups == g) & truth].mean() for g in names]
    fpr = [approved[(groups == g) & ~truth].mean() for g in names]
    return max(selection) - min(selection), max(max(tpr) - min(tpr), max(fpr) - min(fpr))


def test_fairlearn_gaps_agree_with_the_definitions_on_random_data() -> None:
    rng = np.random.default_rng(17)
    for _ in range(10):
        groups = rng.choice(np.array(["f", "m", "x"]), size=300, p=[0.45, 0.45, 0.1])
        truth = rng.random(300) < np.where(groups == "f", 0.5, 0.4)
        approved = rng.random(300) < np.where(truth, 0.8, 0.3) + np.where(groups == "x", -0.1, 0.0)
        parity, odds = _gaps_by_definition(truth, approved, groups)
        assert demographic_parity_difference(approved, list(groups)) == pytest.approx(parity)
        assert equalized_odds_difference(truth, approved, list(groups)) == pytest.approx(odds)


def test_gaps_are_none_when_there_is_nothing_to_compare() -> None:
    assert demographic_parity_difference([1, 0, 1], ["A", "A", "A"]) is None
    assert equalized_odds_difference([1, 0], [1, 0], ["A", "A"]) is None
    # group B has no negative truth: its false positive rate is undefined, so is the gap
    assert equalized_odds_difference([1, 0, 1, 1], [1, 0, 1, 0], ["A", "A", "B", "B"]) is None


def test_inputs_of_the_wrong_length_are_refused() -> None:
    with pytest.raises(InvalidInput):
        demographic_parity_difference([1, 0], ["A"])
    with pytest.raises(InvalidInput):
        fairness_report(["A", "B"], [0, 1], [1, 1], [None], [None, None])
    with pytest.raises(InvalidInput):
        fairness_report(["A", "B"], [0, 2], [1, 1], [None, None], [None, None])


# --- drift between windows ----------------------------------------------------------------------------------


def _rates(n: int, flag: float, approve: float, error: float | None = None) -> GroupRates:
    return GroupRates(n, flag, approve, n // 2, 0.1, n // 2, error)


def test_drift_reports_what_moved_beyond_the_threshold_largest_first() -> None:
    before = FairnessReport({"A": _rates(100, 0.20, 0.60, 0.05), "B": _rates(100, 0.20, 0.55, 0.05)}, 0.05, 0.10)
    after = FairnessReport({"A": _rates(100, 0.21, 0.60, 0.05), "B": _rates(100, 0.35, 0.40, 0.06)}, 0.20, 0.12)
    moved = fairness_drift(before, after, threshold=0.1)
    # B's flag rate +0.15, B's approval -0.15, parity gap +0.15; A's +0.01 and the odds gap's +0.02 stay quiet
    assert {(m.metric, m.group) for m in moved} == {
        ("flag_rate", "B"),
        ("approval_rate", "B"),
        ("demographic_parity_difference", None),
    }
    assert all(abs(m.change) == pytest.approx(0.15) for m in moved)
    assert Movement("flag_rate", "B", 0.20, 0.35) in moved


def test_drift_ignores_small_groups_missing_groups_and_undefined_rates() -> None:
    before = FairnessReport({"A": _rates(10, 0.1, 0.5), "B": _rates(100, 0.1, 0.5, None)}, None, 0.1)
    groups = {"A": _rates(10, 0.9, 0.5), "B": _rates(100, 0.1, 0.5, 0.5), "C": _rates(100, 1, 1)}
    after = FairnessReport(groups, 0.5, 0.1)
    # A moved a lot but rests on 10 cases; B's error rate was undefined before; C is new; parity was None
    assert fairness_drift(before, after, threshold=0.1) == []
    assert [(m.metric, m.group) for m in fairness_drift(before, after, 0.1, min_count=10)] == [("flag_rate", "A")]
    with pytest.raises(InvalidInput):
        fairness_drift(before, after, threshold=-0.1)


def test_the_report_from_counts_gives_fairlearns_gaps_on_random_data() -> None:
    rng = np.random.default_rng(29)
    for _ in range(10):
        groups = list(rng.choice(np.array(["f", "m", "x"]), size=300, p=[0.45, 0.45, 0.1]))
        truth = rng.random(300) < 0.45
        approved = rng.random(300) < np.where(truth, 0.8, 0.3)
        known = rng.random(300) < 0.6
        truths = [bool(t) if k else None for t, k in zip(truth, known, strict=True)]
        report = fairness_report(groups, rng.random(300) < 0.2, approved, [None] * 300, truths)
        assert report.demographic_parity_difference == pytest.approx(demographic_parity_difference(approved, groups))
        labelled = [g for g, k in zip(groups, known, strict=True) if k]
        assert report.equalized_odds_difference == pytest.approx(
            equalized_odds_difference(truth[known], approved[known], labelled)
        )
        assert sum(rates.n for rates in report.groups.values()) == 300


def test_negative_counts_are_refused() -> None:
    with pytest.raises(InvalidInput, match="counts of cases"):
        counted_report({("A", False, True, None, None): -1})
