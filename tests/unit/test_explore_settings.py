"""The flow file's ``learning.explore``: the documented example is valid, and bad settings name where they are."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from helpers.builders import flow_document
from signoff.config import parse_project
from signoff.errors import ConfigError

HOW_TO = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "close-the-loop.md"


def _project(learning: object) -> object:
    return parse_project({"flows": {"credit": flow_document(learning=learning)}}, Path("signoff.yaml"))


def test_the_documented_example_is_a_valid_setting() -> None:
    section = HOW_TO.read_text(encoding="utf-8").split("## Active learning", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert block is not None
    learning = yaml.safe_load(block.group(1))["flows"]["credit"]["learning"]
    explore = _project(learning).flows["credit"].learning.explore  # type: ignore[attr-defined]
    assert (explore.when_idle, explore.queue, explore.pool, explore.strategy) == (True, "default", 1000, "margin")


@pytest.mark.parametrize(
    ("explore", "where"),
    [
        ({"epsilon": 0}, "flows.credit.learning.explore.epsilon"),
        ({"epsilon": 1.5}, "flows.credit.learning.explore.epsilon"),
        ({"temperature": 0}, "flows.credit.learning.explore.temperature"),
        ({"pool": 0}, "flows.credit.learning.explore.pool"),
        ({"strategy": "entropy"}, "flows.credit.learning.explore.strategy"),
        ({"per_claim": 2}, "flows.credit.learning.explore.per_claim"),
        ({"queue": "nowhere"}, "learning.explore offers in queue 'nowhere', which is not declared"),
    ],
)
def test_bad_settings_are_refused_naming_where(explore: dict[str, object], where: str) -> None:
    with pytest.raises(ConfigError) as error:
        _project({"explore": explore})
    assert where in str(error.value)
