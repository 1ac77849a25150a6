"""Every documented command works as typed: each page below is followed from its first command to its last in a fresh
folder (see ``helpers.documented``), and what it shows under a command must still be what the command prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.documented import run_page
from helpers.processes import environment

pytestmark = pytest.mark.slow  # runs signoff processes and servers

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["README.md", "docs/tutorial/first-decisions.md"]
# Commands the pages show that are run elsewhere, each with where.
RUN_ELSEWHERE = {
    "make demo": "tests/acceptance/test_demo.py runs `signoff demo`, which is all `make demo` does after install",
    "make test": "CI runs it from a fresh clone (.ci/run)",
    "make test-fast": "the same tests as `make test`, less those marked slow",
}


@pytest.mark.parametrize("page", PAGES)
def test_every_command_of_the_page_works_as_typed(page: str, tmp_path: Path) -> None:
    assert run_page(ROOT / page, tmp_path, environment(), skip=set(RUN_ELSEWHERE)) > 0
