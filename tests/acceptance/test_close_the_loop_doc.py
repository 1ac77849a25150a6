"""The how-to "Close the loop", sections "Record outcomes", "Check and resolve labels" and "Add the reviews and the
rest of the outcomes", as a user runs them: every ``$ signoff`` command of their console blocks, in order, in a
fresh folder, with the ``csv`` block saved as the file the text names; each must succeed and print the lines the
page shows under it. ``signoff serve`` is left out: the reviews it serves are worked, and the rest of the page is
followed, by test_close_the_loop.py."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from helpers.processes import environment, signoff

pytestmark = pytest.mark.slow  # runs signoff processes

PAGE = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "close-the-loop.md"
BLOCK = re.compile(r"```(console|csv)\n(.*?)```", re.S)
SECTIONS = ("## Record outcomes", "## Check and resolve labels", "## Add the reviews and the rest of the outcomes")


def _sections(page: str) -> str:
    """The text of this page's sections on outcomes and labels, each up to the next section."""
    parts = re.split(r"(?m)^(?=## )", page)
    found = [part for part in parts if part.startswith(SECTIONS)]
    assert len(found) == len(SECTIONS), [part.splitlines()[0] for part in parts]
    return "".join(found)


def _steps(text: str) -> list[tuple[list[str], list[str]]]:
    """Each command of the console blocks (continuation lines joined) and the output lines shown under it."""
    steps: list[tuple[list[str], list[str]]] = []
    for kind, body in BLOCK.findall(text):
        if kind != "console":
            continue
        for line in body.splitlines():
            if line.startswith("$ "):
                steps.append((shlex.split(line[2:]), []))
            elif line.strip():
                steps[-1][1].append(line.strip())
    return steps


def test_every_command_of_the_page_runs_and_prints_what_the_page_shows(tmp_path: Path) -> None:
    text = _sections(PAGE.read_text(encoding="utf-8"))
    (csv,) = [body for kind, body in BLOCK.findall(text) if kind == "csv"]
    assert "Save this as\n`outcomes.csv`" in text
    env = environment()
    cwd = tmp_path
    steps = _steps(text)
    assert [args[:2] for args, _ in steps if args[0] == "signoff"][-7:] == [
        ["signoff", "labels"],
        ["signoff", "labels"],
        ["signoff", "labels"],
        ["signoff", "users"],
        ["signoff", "serve"],
        ["signoff", "outcomes"],
        ["signoff", "labels"],
    ]
    for args, shown in steps:
        if args[:2] == ["signoff", "serve"]:
            continue
        if args[0] == "cd":
            cwd = cwd / args[1]
            (cwd / "outcomes.csv").write_text(csv, encoding="utf-8")
            continue
        assert args[0] == "signoff", args
        done = signoff(*args[1:], env=env, cwd=cwd)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        for line in shown:
            assert line in done.stdout, (args, line, done.stdout)
