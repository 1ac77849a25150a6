"""The policy routes each row: the first rule that fires sends it to review; bad model output always does."""

from __future__ import annotations

import re

import numpy as np

from helpers.builders import make_flow
from signoff.domain import Verdict
from signoff.routing.policy import Batch, Policy, Route

THRESHOLD = {"name": "unsure", "kind": "threshold", "min_confidence": 0.6}
BAND = {"name": "uncertain", "kind": "band", "label": "bad", "low": 0.3, "high": 0.7, "review": "inside"}


def _route(policy: list[dict[str, object]], *rows: list[float], **overrides: object) -> list[Route]:
    flow = make_flow(policy=policy, **overrides)
    return Policy(flow).route(Batch(np.array(rows, dtype=float), [None] * len(rows)))


def test_a_threshold_fires_below_min_confidence() -> None:
    (route,) = _route([THRESHOLD], [0.55, 0.45])
    assert route == Route(
        Verdict.REVIEW,
        "unsure",
        "the model's confidence 0.550 (for 'good') is below 0.6 (rule 'unsure')",
        "default",
    )


def test_a_threshold_does_not_fire_at_min_confidence() -> None:
    (route,) = _route([THRESHOLD], [0.4, 0.6])
    assert route == Route(
        Verdict.AUTO, None, "no rule fired; the model decides 'bad' with confidence 0.600", inclusion_probability=0.0
    )


def test_an_inside_band_fires_inside_and_on_its_edges() -> None:
    routes = _route([BAND], [0.5, 0.5], [0.7, 0.3], [0.3, 0.7], [0.75, 0.25], [0.25, 0.75])
    assert [r.verdict for r in routes] == ["review", "review", "review", "auto", "auto"]
    assert routes[0].reason == "the probability of 'bad' is 0.500, inside the review band [0.3, 0.7] (rule 'uncertain')"


def test_an_outside_band_fires_outside_only() -> None:
    rule = {**BAND, "name": "extremes", "review": "outside"}
    routes = _route([rule], [0.9, 0.1], [0.5, 0.5], [0.1, 0.9])
    assert [r.verdict for r in routes] == ["review", "auto", "review"]
    assert routes[0].reason == (
        "the probability of 'bad' is 0.100, outside the review band [0.3, 0.7] (rule 'extremes')"
    )


def test_the_first_matching_rule_wins() -> None:
    assert [r.rule for r in _route([THRESHOLD, BAND], [0.5, 0.5])] == ["unsure"]
    assert [r.rule for r in _route([BAND, THRESHOLD], [0.5, 0.5])] == ["uncertain"]


def test_a_later_rule_fires_when_an_earlier_one_does_not() -> None:
    assert [r.rule for r in _route([THRESHOLD, BAND], [0.65, 0.35])] == ["uncertain"]


def test_a_row_with_a_problem_goes_to_review_whatever_its_probabilities() -> None:
    flow = make_flow(policy=[BAND])
    routes = Policy(flow).route(Batch(np.array([[0.99, 0.01], [np.nan, np.nan]]), ["sum is 2", "the model failed"]))
    assert routes == [
        Route(Verdict.REVIEW, "invalid-model-output", "invalid model output: sum is 2", "default"),
        Route(Verdict.REVIEW, "invalid-model-output", "invalid model output: the model failed", "default"),
    ]


def test_an_auto_route_has_no_rule_queue_or_priority() -> None:
    assert _route([BAND], [0.9, 0.1]) == [
        Route(
            Verdict.AUTO,
            None,
            "no rule fired; the model decides 'good' with confidence 0.900",
            inclusion_probability=0.0,
        )
    ]


def test_without_rules_every_valid_row_is_auto() -> None:
    assert [r.verdict for r in _route([], [0.5, 0.5], [0.99, 0.01])] == ["auto", "auto"]


def test_the_queue_defaults_to_the_flows_first_queue() -> None:
    (route,) = _route([BAND], [0.5, 0.5], queues={"first": {}, "second": {}})
    assert route.queue == "first"


def test_a_rule_sends_to_its_own_queue_with_its_priority() -> None:
    rule = {**THRESHOLD, "queue": "senior", "priority": 7}
    (route,) = _route([rule], [0.55, 0.45], queues={"default": {}, "senior": {}})
    assert (route.queue, route.priority) == ("senior", 7)


def test_the_policy_version_is_the_flows() -> None:
    flow = make_flow(policy=[THRESHOLD])
    assert Policy(flow).version == flow.policy_version


def test_rows_with_problems_are_never_auto_decided_over_many_random_cases() -> None:
    # hypothesis is not installed; a seeded sweep over random distributions and problem masks stands in.
    rng = np.random.default_rng(20240501)
    flow = make_flow(policy=[THRESHOLD, {**BAND, "review": "outside"}])
    probabilities = rng.dirichlet([0.3, 0.3], size=2000)
    problems = [("bad output" if broken else None) for broken in rng.random(2000) < 0.3]
    routes = Policy(flow).route(Batch(probabilities, problems))
    for problem, route in zip(problems, routes, strict=True):
        if problem is not None:
            assert (route.verdict, route.rule) == ("review", "invalid-model-output")
        else:
            assert route.rule != "invalid-model-output"
    assert {r.verdict for r, p in zip(routes, problems, strict=True) if p is None} == {"auto", "review"}


def test_a_reason_never_shows_a_confidence_at_or_above_the_threshold_it_fell_below() -> None:
    (route,) = _route([THRESHOLD], [0.5996, 0.4004])
    assert route.rule == "unsure"
    match = re.search(r"confidence ([0-9.]+)", route.reason)
    assert match is not None
    assert float(match.group(1)) < 0.6
