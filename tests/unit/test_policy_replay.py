"""The replay's numbers (``signoff.learning.evaluate``): unscored cases, the risk-coverage table, warnings."""

from __future__ import annotations

import numpy as np

from helpers.builders import make_flow
from signoff.learning import evaluate as evaluation
from signoff.routing import Batch, Policy, PolicyState
from signoff.routing import calibration as stats


def _batch(p_bad: list[float]) -> Batch:
    p = np.array(p_bad)
    return Batch(np.column_stack([1 - p, p]), [None if np.isfinite(v) else "a probability is NaN" for v in p])


def test_unscored_cases_go_to_review_and_count_as_deferred_on_the_curve() -> None:
    policy = Policy(make_flow(policy=[]))
    result = evaluation.evaluate(policy, PolicyState(), _batch([0.1, 0.2, 0.9, np.nan]), ["good", "bad", "bad", "good"])
    assert (result.cases, result.unscored, result.model_errors) == (4, 1, 1)
    assert result.flag_rate == 0.25  # the unscored case, and only it
    assert result.by_rule == {"invalid-model-output": 1}
    # three scored cases at confidence 0.9, 0.9, 0.8: coverage is a share of all four
    assert [row[0] for row in result.table] == [0.5, 0.75]
    assert result.table[-1][2] == 1 / 3


def test_warnings_name_a_single_label_and_too_few_cases_for_alpha_and_delta() -> None:
    certificate = stats.certify_selective(np.full(100, 0.9), np.ones(100, dtype=bool), 0.01, 0.05)
    state = PolicyState(certificates={"strict": {None: certificate}})
    found = evaluation.certificates_of(state)
    assert not found[0].certified and found[0].calibration_size == 100
    warnings = evaluation.calibration_warnings(["good"] * 100, 3, "a probability is NaN", found)
    assert warnings == [
        "3 calibration row(s) the model could not score were left out (a probability is NaN)",
        "every one of the 100 verified calibration cases is labelled 'good': the certificates say nothing about "
        "cases of the other labels",
        "strict: 100 verified calibration case(s); at alpha 0.01 and delta 0.05 a certificate needs at least 299, "
        "even if the model made no error",
    ]
