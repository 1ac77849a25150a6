"""A challenger against the champion on the same labelled cases: the figures, the paired tests against reference
values, determinism, weights, the routing figures and the groups."""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score, roc_auc_score

from helpers.builders import make_flow
from helpers.paired import LABELS, scored, two_columns
from signoff.domain import CaseId, Verdict
from signoff.errors import ModelError
from signoff.learning import assess
from signoff.learning.compare import (
    _aucs,
    compare,
    compare_probabilities,
    mcnemar,
    paired_bootstrap_auc,
    policy_router,
)
from signoff.learning.datasets import Examples
from signoff.routing import Batch, Policy


def pairs(correct_first: int, correct_second: int, both: int, neither: int) -> tuple[list[bool], list[bool]]:
    """Correctness vectors with the given counts of each of the four (champion, challenger) outcomes."""
    first = [True] * correct_first + [False] * correct_second + [True] * both + [False] * neither
    second = [False] * correct_first + [True] * correct_second + [True] * both + [False] * neither
    return first, second


def test_mcnemar_matches_a_published_example_with_continuity_correction() -> None:
    # Agresti, "Categorical Data Analysis" (1990), p. 350, the example of R's `?mcnemar.test`: presidential
    # approval of 1600 people in two surveys, 794 approve twice, 150 approve then disapprove, 86 the reverse,
    # 570 disapprove twice. Without correction the statistic is 17.3559 (p = 3.099e-05; Penn State STAT 504,
    # "McNemar test, presidential approval"); R's default continuity correction gives 16.818, p = 4.115e-05.
    first, second = pairs(150, 86, 794, 570)
    found = mcnemar(first, second)
    assert (found.champion_only, found.challenger_only, found.exact) == (150, 86, False)
    b, c = found.champion_only, found.challenger_only
    assert (b - c) ** 2 / (b + c) == pytest.approx(17.3559, abs=1e-4)
    assert found.statistic == pytest.approx(16.818, abs=5e-4)
    assert found.p_value == pytest.approx(4.115e-05, rel=1e-3)


@pytest.mark.parametrize(("b", "c"), [(2, 8), (8, 2), (0, 5), (12, 12), (3, 21)])
def test_mcnemar_below_25_discordant_cases_is_the_exact_binomial_test(b: int, c: int) -> None:
    first, second = pairs(b, c, 40, 7)
    found = mcnemar(first, second)
    assert found.exact and found.statistic is None
    assert found.p_value == pytest.approx(stats.binomtest(min(b, c), b + c, 0.5).pvalue, rel=1e-12)


def test_mcnemar_exact_by_hand_and_with_no_discordant_case() -> None:
    # 2 against 8: P = 2 * (C(10,0) + C(10,1) + C(10,2)) / 2^10 = 2 * 56 / 1024
    assert mcnemar(*pairs(2, 8, 5, 5)).p_value == pytest.approx(112 / 1024, rel=1e-12)
    assert mcnemar(*pairs(0, 0, 5, 5)).p_value == 1.0
    with pytest.raises(ValueError, match="equal-length"):
        mcnemar([True, False], [True])


def test_the_vectorised_auc_is_sklearns_weighted_auc_with_ties() -> None:
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 3, 400)
    probabilities = np.round(rng.dirichlet([1, 1, 1], 400), 1)  # rounding makes many ties
    weights = rng.uniform(0.5, 20, (4, 400))
    found = _aucs(probabilities, truth, weights)
    for row, w in zip(found, weights, strict=True):
        expected = np.mean([roc_auc_score(truth == k, probabilities[:, k], sample_weight=w) for k in range(3)])
        assert row == pytest.approx(expected, abs=1e-12)


def test_the_paired_bootstrap_interval_agrees_with_scipys_paired_percentile_bootstrap() -> None:
    truth, first, second = scored(200, seed=5, champion_noise=1.5, challenger_noise=1.0)
    ours = paired_bootstrap_auc(truth, two_columns(first), two_columns(second), resamples=2000, seed=1)

    def mann_whitney_auc(t: npt.NDArray[np.intp], score: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """AUC from the rank sum of the positives (ties at mid-rank), along the last axis."""
        positives = t.sum(axis=-1)
        ranks = stats.rankdata(score, axis=-1)
        u = (ranks * t).sum(axis=-1) - positives * (positives + 1) / 2
        return np.asarray(u / (positives * (t.shape[-1] - positives)), dtype=np.float64)

    def difference(
        t: npt.NDArray[np.intp], a: npt.NDArray[np.float64], b: npt.NDArray[np.float64], axis: int = -1
    ) -> npt.NDArray[np.float64]:
        return mann_whitney_auc(t, b) - mann_whitney_auc(t, a)

    reference = stats.bootstrap(
        (truth, first, second),
        difference,
        paired=True,
        vectorized=True,
        n_resamples=2000,
        method="percentile",
        confidence_level=0.95,
        random_state=np.random.default_rng(2),
    )
    assert ours is not None
    assert ours.difference == pytest.approx(roc_auc_score(truth, second) - roc_auc_score(truth, first), abs=1e-12)
    # two independent Monte Carlo draws of the same interval: the bounds agree to within its sampling noise
    assert ours.low == pytest.approx(reference.confidence_interval.low, abs=0.012)
    assert ours.high == pytest.approx(reference.confidence_interval.high, abs=0.012)
    assert ours.low < ours.difference < ours.high


def test_the_bootstrap_is_deterministic_for_a_seed_and_moves_with_it() -> None:
    truth, first, second = scored(300, seed=6, champion_noise=1.2, challenger_noise=1.0)
    one = paired_bootstrap_auc(truth, two_columns(first), two_columns(second), seed=7)
    assert one == paired_bootstrap_auc(truth, two_columns(first), two_columns(second), seed=7)
    other = paired_bootstrap_auc(truth, two_columns(first), two_columns(second), seed=8)
    assert one is not None and other is not None
    assert (one.low, one.high) != (other.low, other.high)
    assert one.difference == other.difference


def test_a_model_against_itself_has_a_zero_interval_and_no_discordant_case() -> None:
    truth, first, _ = scored(150, seed=2, champion_noise=1.0, challenger_noise=1.0)
    found = compare_probabilities(LABELS, np.array(LABELS)[truth], two_columns(first), two_columns(first))
    assert found.auc_difference is not None
    assert (found.auc_difference.low, found.auc_difference.high) == (0.0, 0.0)
    assert (found.mcnemar.champion_only, found.mcnemar.challenger_only, found.mcnemar.p_value) == (0, 0, 1.0)
    assert found.champion == found.challenger


def test_figures_are_assess_figures_and_a_single_label_leaves_auc_and_the_interval_undefined() -> None:
    truth, first, second = scored(250, seed=4, champion_noise=1.5, challenger_noise=0.8)
    found = compare_probabilities(LABELS, np.array(LABELS)[truth], two_columns(first), two_columns(second))
    expected = assess.figures(LABELS, two_columns(second), np.array(LABELS)[truth])
    assert found.challenger.accuracy == pytest.approx(accuracy_score(truth, second > 0.5))
    assert (found.challenger.n, found.challenger.log_loss, found.challenger.ece, found.challenger.auc) == (
        250,
        expected["log_loss"],
        expected["ece"],
        expected["auc"],
    )
    assert found.challenger.flag_rate is None and found.groups == () and not found.weighted
    alone = compare_probabilities(LABELS, ["bad"] * 10, two_columns(first[:10]), two_columns(second[:10]))
    assert alone.champion.auc is None and alone.auc_difference is None
    with pytest.raises(ModelError, match="no labelled case"):
        compare_probabilities(LABELS, [], np.zeros((0, 2)), np.zeros((0, 2)))
    with pytest.raises(ModelError, match=re.escape("shape (250, 2) from both models, got (250, 2) and (250, 3)")):
        compare_probabilities(LABELS, np.array(LABELS)[truth], two_columns(first), np.ones((250, 3)) / 3)


def test_weights_count_in_every_figure_but_not_in_mcnemars_counts() -> None:
    # the champion is right on the first case only, the challenger on the second only
    truth = np.array([1, 1, 0, 0])
    first = two_columns(np.array([0.9, 0.4, 0.2, 0.3]))
    second = two_columns(np.array([0.4, 0.9, 0.2, 0.3]))
    found = compare_probabilities(LABELS, np.array(LABELS)[truth], first, second, weights=[1, 9, 1, 1])
    assert found.weighted
    assert found.champion.accuracy == pytest.approx(3 / 12)
    assert found.challenger.accuracy == pytest.approx(11 / 12)
    assert (found.mcnemar.champion_only, found.mcnemar.challenger_only) == (1, 1)
    with pytest.raises(ModelError, match="4 positive finite weights"):
        compare_probabilities(LABELS, np.array(LABELS)[truth], first, second, weights=[1, 0, 1, 1])


def test_routing_figures_come_from_the_policy_applied_to_each_models_scores() -> None:
    truth = np.array([1, 1, 0, 0, 1])
    first = two_columns(np.array([0.95, 0.55, 0.1, 0.6, 0.3]))  # unsure on cases 2 and 4; wrong on 4 and 5
    second = two_columns(np.array([0.95, 0.9, 0.1, 0.2, 0.45]))  # unsure on case 5 only, wrong on it

    def review_when_unsure(probabilities: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        return np.asarray(probabilities.max(axis=1) < 0.65, dtype=np.bool_)

    found = compare_probabilities(LABELS, np.array(LABELS)[truth], first, second, router=review_when_unsure)
    assert (found.champion.flag_rate, found.champion.auto_error) == (pytest.approx(2 / 5), pytest.approx(1 / 3))
    assert (found.challenger.flag_rate, found.challenger.auto_error) == (pytest.approx(1 / 5), 0.0)
    everything = compare_probabilities(
        LABELS, np.array(LABELS)[truth], first, second, router=lambda p: np.ones(len(p), dtype=bool)
    )
    assert (everything.champion.flag_rate, everything.champion.auto_error) == (1.0, None)
    with pytest.raises(ModelError, match="each of the 5 cases"):
        compare_probabilities(LABELS, np.array(LABELS)[truth], first, second, router=lambda p: [True])


def test_each_group_is_compared_on_its_own_cases() -> None:
    truth, first, second = scored(400, seed=9, champion_noise=1.0, challenger_noise=1.0)
    group = np.where(np.arange(400) % 4 == 0, "b", "a").astype(object)
    group[:3] = None
    second = np.where(group == "b", 1 - second, second)  # the challenger is reversed on group b
    found = compare_probabilities(
        LABELS, np.array(LABELS)[truth], two_columns(first), two_columns(second), groups={"region": list(group)}
    )
    by_name = {g.group: g for g in found.groups}
    assert sorted(by_name) == ["(missing)", "a", "b"]
    assert all(g.attribute == "region" for g in found.groups)
    b = group == "b"
    assert by_name["b"].champion.n == int(b.sum())
    assert by_name["b"].challenger.auc == pytest.approx(roc_auc_score(truth[b], second[b]))
    assert by_name["b"].challenger.auc < 0.5 < by_name["b"].champion.auc
    assert by_name["a"].challenger.accuracy == pytest.approx(
        accuracy_score(truth[group == "a"], second[group == "a"] > 0.5)
    )
    with pytest.raises(ModelError, match="has 2 values for 400 cases"):
        compare_probabilities(
            LABELS, np.array(LABELS)[truth], two_columns(first), two_columns(second), groups={"x": ["a", "b"]}
        )


class Fixed:
    """A fitted model whose probabilities are given: ``classes_`` and ``predict_proba`` as scikit-learn's."""

    def __init__(self, classes: tuple[str, ...], probabilities: npt.NDArray[np.float64]) -> None:
        self.classes_ = np.array(classes)
        self.probabilities = probabilities

    def predict_proba(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        assert len(frame) == len(self.probabilities)
        return self.probabilities


def test_compare_scores_fitted_models_and_aligns_their_classes() -> None:
    truth, first, second = scored(300, seed=11, champion_noise=1.5, challenger_noise=0.7)
    frame = pd.DataFrame({"group": np.where(np.arange(300) % 3 == 0, "a", "b")})
    examples = Examples(tuple(CaseId(i) for i in range(300)), frame, np.array(LABELS)[truth], np.ones(300))
    champion = Fixed(LABELS, two_columns(first))
    challenger = Fixed(LABELS[::-1], two_columns(second)[:, ::-1])  # the same classes in the other order
    found = compare(champion, challenger, examples, groups=["group"])
    assert found.labels == LABELS
    assert found.challenger.auc == pytest.approx(roc_auc_score(truth, second))
    assert found.challenger.accuracy == assess.metrics(challenger, examples)["accuracy"]
    assert {g.group for g in found.groups} == {"a", "b"}
    with pytest.raises(ModelError, match="not columns of the examples"):
        compare(champion, challenger, examples, groups=["region"])
    with pytest.raises(ModelError, match="are not the champion's"):
        compare(champion, Fixed(("good", "unsure"), two_columns(second)), examples)


def test_the_flows_policy_routes_each_models_scores_as_the_engine_would() -> None:
    # the builders' flow reviews P(bad) inside [0.3, 0.7]; the audit draws are all 1, so nothing is audited
    policy = Policy(make_flow())
    truth = np.array([1, 1, 0, 0, 1, 0])
    first = two_columns(np.array([0.9, 0.5, 0.1, 0.65, 0.2, 0.35]))  # reviews cases 2, 4 and 6; wrong on 5
    second = two_columns(np.array([0.9, 0.8, 0.1, 0.2, 0.6, 0.75]))  # reviews case 5; wrong on 6
    batch = Batch(first, [None] * 6, draws=np.ones(6))
    router = policy_router(policy, batch)
    expected = [r.verdict is Verdict.REVIEW for r in policy.route(batch)]
    assert list(router(first)) == expected == [False, True, False, True, False, True]
    found = compare_probabilities(LABELS, np.array(LABELS)[truth], first, second, router=router)
    assert (found.champion.flag_rate, found.champion.auto_error) == (pytest.approx(3 / 6), pytest.approx(1 / 3))
    assert (found.challenger.flag_rate, found.challenger.auto_error) == (pytest.approx(1 / 6), pytest.approx(1 / 5))
    # a router of its own for the challenger (its learning rules calibrated on its scores) is used for it alone
    everything = compare_probabilities(
        LABELS,
        np.array(LABELS)[truth],
        first,
        second,
        router=router,
        challenger_router=lambda p: np.ones(len(p), dtype=bool),
    )
    assert (everything.champion.flag_rate, everything.challenger.flag_rate) == (pytest.approx(0.5), 1.0)


def test_three_labels_compare_by_the_mean_one_against_the_rest_auc() -> None:
    rng = np.random.default_rng(12)
    truth = rng.integers(0, 3, 300)
    first = rng.dirichlet([1, 1, 1], 300)
    second = 0.5 * first + 0.5 * np.eye(3)[truth]  # leans towards the truth
    labels = ("low", "mid", "high")
    found = compare_probabilities(labels, np.array(labels)[truth], first, second, resamples=500)
    assert found.champion.auc == pytest.approx(roc_auc_score(truth, first, multi_class="ovr"))
    assert found.challenger.auc == pytest.approx(roc_auc_score(truth, second, multi_class="ovr"))
    assert found.auc_difference is not None and found.auc_difference.low > 0.2
    assert found.mcnemar.challenger_only > found.mcnemar.champion_only
