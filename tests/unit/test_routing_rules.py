"""Each routing rule from the flow file, on small batches whose answers are known."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from helpers.builders import make_flow
from signoff.domain import Verdict
from signoff.errors import ConfigError
from signoff.routing.calibration import certify_selective, conformal_quantile
from signoff.routing.policy import Batch, Policy, PolicyState, Profile, Route, score_of

GOOD_BAD = np.array([[0.95, 0.05], [0.75, 0.25], [0.55, 0.45]])


def _route(
    rules: list[dict[str, Any]], probabilities: Any, state: PolicyState | None = None, **batch: Any
) -> list[Route]:
    flow_overrides = batch.pop("flow", {})
    flow = make_flow(policy=rules, **flow_overrides)
    p = np.asarray(probabilities, dtype=float)
    return Policy(flow, batch.pop("profile", None)).route(Batch(p, [None] * len(p), **batch), state or PolicyState())


def _verdicts(routes: list[Route]) -> list[str]:
    return [r.verdict.value for r in routes]


def _columns(score: list[float], group: list[str | None], amount: list[float] | None = None) -> dict[str, Any]:
    return {
        "score": np.array(score, dtype=float),
        "group": np.array(group, dtype=object),
        "amount": np.array(amount if amount is not None else [np.nan] * len(score), dtype=float),
    }


def test_a_threshold_by_segment_uses_each_segments_limit() -> None:
    rule = {
        "name": "t",
        "kind": "threshold",
        "min_confidence": 0.7,
        "by_segment": {"field": "group", "values": {"b": 0.9}},
    }
    probabilities = [[0.8, 0.2], [0.8, 0.2], [0.8, 0.2]]
    routes = _route([rule], probabilities, columns=_columns([0.2] * 3, ["a", "b", None]))
    assert _verdicts(routes) == ["auto", "review", "auto"]
    assert routes[1].reason == "the model's confidence 0.800 (for 'good') is below 0.9 (for this group) (rule 't')"


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 11, 21, 12, 0, tzinfo=UTC), "review"),  # Saturday 13:00 in Berlin: the weekend window
        (datetime(2026, 11, 23, 3, 30, tzinfo=UTC), "review"),  # Monday 04:30 in Berlin: the night window
        (datetime(2026, 11, 23, 12, 0, tzinfo=UTC), "auto"),  # Monday 13:00 in Berlin: the base limit 0.7
        (datetime(2026, 11, 23, 22, 30, tzinfo=UTC), "review"),  # Monday 23:30 Berlin: the night window wraps midnight
    ],
)
def test_a_schedule_changes_the_limit_by_local_time(moment: datetime, expected: str) -> None:
    rule = {
        "name": "t",
        "kind": "threshold",
        "min_confidence": 0.7,
        "schedule": {
            "timezone": "Europe/Berlin",
            "windows": [
                {"days": ["sat", "sun"], "value": 0.9},
                {"hours": [22, 6], "value": 0.85},
            ],
        },
    }
    (route,) = _route([rule], [[0.8, 0.2]], now=moment)
    assert route.verdict.value == expected
    if expected == "review":
        assert "(by schedule)" in route.reason


def test_an_unknown_time_zone_is_refused_at_load() -> None:
    rule = {
        "name": "t",
        "kind": "threshold",
        "min_confidence": 0.7,
        "schedule": {"timezone": "Mars/Olympus", "windows": [{"value": 0.9}]},
    }
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        make_flow(policy=[rule])


@pytest.mark.parametrize(
    ("measure", "limit", "expected"),
    [
        ("least_confidence", 0.3, ["auto", "auto", "review"]),
        ("margin", 0.6, ["auto", "review", "review"]),
        ("entropy", 0.5, ["auto", "review", "review"]),
    ],
)
def test_uncertainty_measures_fire_past_their_limit(measure: str, limit: float, expected: list[str]) -> None:
    rule = {"name": "u", "kind": "uncertainty", "measure": measure, "limit": limit}
    routes = _route([rule], GOOD_BAD)
    assert _verdicts(routes) == expected


def test_ensemble_disagreement_uses_the_members() -> None:
    members = np.array(
        [
            [[0.9, 0.1], [0.9, 0.1]],
            [[0.8, 0.2], [0.2, 0.8]],
            [[0.85, 0.15], [0.6, 0.4]],
        ]
    )
    rule = {"name": "v", "kind": "uncertainty", "measure": "vote_entropy", "limit": 0.1}
    routes = _route([rule], members.mean(axis=0), members=members)
    assert _verdicts(routes) == ["auto", "review"]
    assert routes[1].reason.startswith("the vote entropy 0.637 is above 0.1")


def test_ensemble_disagreement_without_members_reviews_and_says_why() -> None:
    rule = {"name": "v", "kind": "uncertainty", "measure": "spread", "limit": 0.1}
    (route,) = _route([rule], [[0.9, 0.1]])
    assert route.verdict is Verdict.REVIEW and "needs an ensemble's member predictions" in route.reason


def test_capacity_flags_the_budget_share_of_the_least_confident() -> None:
    rng = np.random.default_rng(0)
    history = rng.uniform(0.5, 1.0, 20_000)
    top = rng.uniform(0.5, 1.0, 20_000)
    rule = {"name": "c", "kind": "capacity", "budget": 0.07}
    routes = _route([rule], np.column_stack([top, 1 - top]), PolicyState(history={"c": history}))
    rate = np.mean([r.verdict is Verdict.REVIEW for r in routes])
    assert abs(rate - 0.07) < 0.005
    assert "is among the lowest 7.0% of recent cases" in next(r.reason for r in routes if r.rule == "c")


def test_capacity_follows_a_drifting_stream() -> None:
    rule = {"name": "c", "kind": "capacity", "budget": 0.1, "window": 5000}
    rng = np.random.default_rng(1)
    old = rng.uniform(0.9, 1.0, 5000)  # the model was confident...
    new = rng.uniform(0.5, 0.7, 5000)  # ...then traffic drifted
    routes = _route([rule], np.column_stack([new, 1 - new]), PolicyState(history={"c": old}))
    rate = np.mean([r.verdict is Verdict.REVIEW for r in routes])
    assert 0.09 < rate < 0.11  # the window plus this batch keep the rate near budget, not 100%


def test_a_certified_rule_uses_its_certificate_and_states_it() -> None:
    rng = np.random.default_rng(2)
    score = rng.uniform(0.5, 1.0, 5000)
    correct = rng.random(5000) < score
    certificate = certify_selective(score, correct, 0.05, 0.05)
    rule = {"name": "cert", "kind": "certified", "alpha": 0.05}
    state = PolicyState(certificates={"cert": {None: certificate}})
    low, high = certificate.threshold - 0.01, min(certificate.threshold + 0.01, 1.0)  # type: ignore[union-attr]
    routes = _route([rule], [[low, 1 - low], [high, 1 - high]], state)
    assert _verdicts(routes) == ["review", "auto"]
    assert "error among auto-decided cases <= 5.0% with probability >= 95%" in routes[0].reason


def test_a_certified_rule_without_a_certificate_reviews_everything() -> None:
    rng = np.random.default_rng(3)
    score = rng.uniform(0.5, 1.0, 100)
    refusal = certify_selective(score, rng.random(100) < score, 0.01, 0.05)
    rule = {"name": "cert", "kind": "certified", "alpha": 0.01}
    state = PolicyState(certificates={"cert": {None: refusal}})
    routes = _route([rule], [[0.999, 0.001], [0.6, 0.4]], state)
    assert _verdicts(routes) == ["review", "review"]
    assert "cannot certify" in routes[0].reason and "299" in routes[0].reason
    assert routes[0].reason.endswith("every case goes to review until the guarantee can be given (rule 'cert')")
    assert _verdicts(_route([rule], [[0.999, 0.001]])) == ["review"]  # no calibration at all


def test_a_certified_rule_per_segment_uses_each_segments_certificate() -> None:
    rng = np.random.default_rng(4)
    score = rng.uniform(0.5, 1.0, 5000)
    certificate = certify_selective(score, rng.random(5000) < score, 0.05, 0.05)
    refusal = certify_selective(score[:50], np.ones(50, dtype=bool), 0.05, 0.05)
    rule = {"name": "cert", "kind": "certified", "alpha": 0.05, "segment_field": "group"}
    state = PolicyState(certificates={"cert": {"a": certificate, "b": refusal}})
    routes = _route([rule], [[0.999, 0.001], [0.999, 0.001]], state, columns=_columns([0.1, 0.1], ["a", "b"]))
    assert _verdicts(routes) == ["auto", "review"]


def test_a_conformal_rule_reviews_sets_that_are_not_one_label() -> None:
    rng = np.random.default_rng(5)
    p = rng.uniform(0.5, 1.0, 2000)
    cal = np.column_stack([p, 1 - p])
    truth = (rng.random(2000) > p).astype(int)
    quantile = conformal_quantile(cal, truth, 0.1)
    rule = {"name": "sets", "kind": "conformal", "alpha": 0.1}
    routes = _route([rule], [[0.99, 0.01], [0.52, 0.48]], PolicyState(quantiles={"sets": quantile}))
    assert _verdicts(routes) == ["auto", "review"]
    assert "the 90% conformal prediction set is {'good', 'bad'}, not a single label" in routes[1].reason


def test_out_of_distribution_names_the_field_and_the_training_range() -> None:
    rule = {
        "name": "ood",
        "kind": "out_of_distribution",
        "ranges": {"amount": [0, 1000]},
        "categories": {"group": ["a"]},
    }
    routes = _route([rule], [[0.99, 0.01]] * 3, columns=_columns([0.1] * 3, ["a", "b", "a"], [10, 20, 5000]))
    assert _verdicts(routes) == ["auto", "review", "review"]
    assert routes[1].reason == "group 'b' never occurred in the training data (rule 'ood')"
    assert routes[2].reason == "amount 5000 is outside the training range [0, 1000] (rule 'ood')"


def test_out_of_distribution_uses_the_profile_of_the_reference_data() -> None:
    rule = {"name": "ood", "kind": "out_of_distribution", "reference": "train.csv"}
    profile = Profile(ranges={"score": (0.0, 0.5)})
    routes = _route([rule], [[0.99, 0.01]] * 2, columns=_columns([0.1, 0.9], ["a", "a"]), profile=profile)
    assert _verdicts(routes) == ["auto", "review"]


def test_a_business_rule_fires_on_its_expression() -> None:
    rule = {
        "name": "big",
        "kind": "expression",
        "when": "amount > 500 and group == 'b'",
        "role": "admin",
        "priority": 7,
        "sla": 3600,
    }
    routes = _route([rule], [[0.99, 0.01]] * 3, columns=_columns([0.1] * 3, ["b", "a", "b"], [900, 900, 100]))
    assert _verdicts(routes) == ["review", "auto", "auto"]
    assert routes[0] == Route(
        Verdict.REVIEW,
        "big",
        "the business rule `amount > 500 and group == 'b'` holds (rule 'big')",
        "default",
        "admin",
        7,
        3600.0,
    )


def test_a_bad_business_rule_is_refused_at_load_with_its_location() -> None:
    rule = {"name": "bad", "kind": "expression", "when": "colour == 'red'"}
    with pytest.raises(ConfigError) as caught:
        Policy(make_flow(policy=[rule]))
    assert caught.value.problems[0].location.startswith("flows.test-flow.policy[0].when")
    assert "colour" in caught.value.problems[0].reason


def test_the_random_audit_draws_auto_cases_with_their_inclusion_probability() -> None:
    flow = {"audit": {"rate": 0.2}}
    n = 10_000
    draws = np.random.default_rng(6).random(n)
    routes = _route([], np.tile([0.99, 0.01], (n, 1)), draws=draws, flow=flow)
    audited = [r for r in routes if r.verdict is Verdict.AUDIT]
    assert abs(len(audited) / n - 0.2) < 0.02
    assert {r.inclusion_probability for r in routes} == {0.2}
    assert audited[0].queue == "default" and audited[0].priority == -10
    assert "drawn for the random audit (inclusion probability 0.2)" in audited[0].reason


def test_the_random_audit_can_be_stratified_by_segment() -> None:
    flow = {"audit": {"rate": 0.0, "by_segment": {"field": "group", "values": {"b": 1.0}}}}
    routes = _route(
        [], [[0.99, 0.01]] * 2, draws=np.array([0.5, 0.5]), columns=_columns([0.1] * 2, ["a", "b"]), flow=flow
    )
    assert _verdicts(routes) == ["auto", "audit"]
    assert [r.inclusion_probability for r in routes] == [0.0, 1.0]


def test_flagged_cases_are_never_drawn_for_audit() -> None:
    rule = {"name": "t", "kind": "threshold", "min_confidence": 0.9}
    routes = _route([rule], [[0.6, 0.4]], draws=np.array([0.0]), flow={"audit": {"rate": 1.0}})
    assert _verdicts(routes) == ["review"] and routes[0].inclusion_probability is None


def test_the_ensemble_score_is_the_members_mean_for_the_models_own_label() -> None:
    probabilities = np.array([[0.9, 0.1], [0.4, 0.6]])
    members = np.array([[[0.8, 0.2], [0.5, 0.5]], [[0.6, 0.4], [0.7, 0.3]]])
    score = score_of("ensemble", Batch(probabilities, [None, None], members=members))
    assert score is not None and np.allclose(score, [0.7, 0.4])
    assert score_of("ensemble", Batch(probabilities, [None, None])) is None


def test_a_rule_ranking_by_the_ensemble_reviews_when_the_model_has_no_members() -> None:
    rule = {"name": "c", "kind": "capacity", "budget": 0.1, "score": "ensemble"}
    (route,) = _route([rule], [[0.99, 0.01]])
    assert route.verdict is Verdict.REVIEW and "the model has no ensemble members" in route.reason


def test_capacity_by_the_ensemble_flags_what_the_members_doubt() -> None:
    probabilities = np.tile([0.95, 0.05], (10, 1))
    members = np.tile([0.95, 0.05], (3, 10, 1))
    members[:, 3] = [0.4, 0.6]  # the members doubt case 3, which the model is sure of
    rule = {"name": "c", "kind": "capacity", "budget": 0.1, "score": "ensemble"}
    routes = _route([rule], probabilities, members=members)
    assert [i for i, r in enumerate(routes) if r.verdict is Verdict.REVIEW] == [3]
    assert routes[3].reason.startswith("the ensemble score 0.400 is among the lowest 10.0% of recent cases")
