"""The canary's pure parts: the weighted paired test it is rolled back on, and its settings in the flow file."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from pydantic import ValidationError
from scipy import stats  # type: ignore[import-untyped, unused-ignore]

from helpers.builders import make_flow
from signoff.learning.canary import discordance

HOW_TO = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "close-the-loop.md"


def test_with_equal_weights_the_test_is_mcnemars_without_continuity_correction() -> None:
    champion = np.array([True] * 30 + [False] * 12 + [True] * 50)
    challenger = np.array([False] * 30 + [True] * 12 + [True] * 50)
    found = discordance(champion, challenger, np.ones(92))
    assert (found.challenger_only, found.champion_only) == (30, 12)
    assert found.z == pytest.approx((30 - 12) / np.sqrt(42))
    assert found.p_value == pytest.approx(stats.chi2.sf((30 - 12) ** 2 / 42, df=1))


def test_weights_count_each_discordant_case_by_its_weight_and_no_discordance_is_no_evidence() -> None:
    champion = np.array([True, True, False, True])
    challenger = np.array([False, False, True, True])
    found = discordance(champion, challenger, np.array([1.0, 1.0, 50.0, 1.0]))
    assert (found.challenger_only_weight, found.champion_only_weight) == (2.0, 50.0)
    assert found.z == pytest.approx((2 - 50) / np.sqrt(2 + 2500)) and found.z < 0  # the canary is the better one
    same = discordance(np.ones(5, bool), np.ones(5, bool), np.ones(5))
    assert (same.z, same.p_value) == (0.0, 1.0)


def test_the_how_tos_canary_settings_are_valid_and_a_bad_sticky_field_is_named() -> None:
    block = re.search(r"```yaml\n(learning:\n  canary:.*?)```", HOW_TO.read_text(encoding="utf-8"), re.DOTALL)
    assert block is not None
    learning = yaml.safe_load(block.group(1))["learning"]
    fields = {"score": {"type": "number"}, "group": {"type": "category", "values": ["a", "b"]}}
    flow = make_flow(fields={**fields, "customer_id": {"type": "string"}}, learning=learning)
    spec = flow.learning.canary
    assert (spec.share, spec.sticky_by, spec.min_evidence) == (0.1, "customer_id", 30)
    with pytest.raises(ValidationError, match=r"learning\.canary\.sticky_by reads field 'nope'"):
        make_flow(learning={"canary": {"sticky_by": "nope"}})
    with pytest.raises(ValidationError, match="needs field 'score' to be string or category or integer"):
        make_flow(learning={"canary": {"sticky_by": "score"}})
    with pytest.raises(ValidationError, match="less than 1"):
        make_flow(learning={"canary": {"share": 1}})
