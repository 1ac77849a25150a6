"""``signoff --help`` and the commands that need no model start fast: they import none of the heavy libraries
(scikit-learn, pandas, SQLAlchemy, FastAPI...), which cost about 2.5 s of CPU before every command when the command
modules imported their services at the top. The target is 0.3 s of CPU on a quiet machine (the figure and its floor
are in docs/reference/benchmarks.md); the bound here is generous, for a loaded test machine, and the list of
imported modules is the exact check; beside it, the ratio to a bare Typer app measured in the same run."""

from __future__ import annotations

import importlib.util
import resource
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers.builders import make_project
from helpers.processes import environment, signoff

HEAVY = (
    "sklearn",
    "scipy",
    "pandas",
    "numpy",
    "pyarrow",
    "skops",
    "mlflow",
    "matplotlib",
    "fastapi",
    "starlette",
    "uvicorn",
    "jinja2",
    "sqlalchemy",
    "alembic",
    "signoff.store",
    "signoff.intake",
    "signoff.learning.retrain",
)
CPU_BOUND = 0.6  # seconds: twice the target, for a shared machine (0.21 - 0.25 s at a load average of 12)
FLOOR_RATIO = 1.5  # `signoff --help` / a bare Typer app's --help, medians of the same run (1.31 at load 12)
ROOT = Path(__file__).resolve().parents[2]


def _imports(*args: str) -> tuple[set[str], float]:
    """The modules ``python -X importtime -m signoff ARGS`` imports, and the CPU time it took."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "signoff", *args],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Usage: signoff" in done.stdout
    modules = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return modules, cpu


@pytest.mark.parametrize(
    "args",
    [("--help",), ("db", "--help"), ("users", "--help"), ("users", "add", "--help"), ("audit", "verify", "--help")],
)
def test_help_imports_no_heavy_library(args: tuple[str, ...]) -> None:
    modules, cpu = _imports(*args)
    assert "typer" in modules  # the importtime report was read
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY))
    assert heavy == [], f"signoff {' '.join(args)} imported {heavy[:10]}"
    assert cpu < CPU_BOUND, f"signoff {' '.join(args)} took {cpu:.2f} s of CPU"


def test_help_costs_little_more_than_a_bare_typer_app(tmp_path: Path) -> None:
    """`signoff --help` against the floor of bench/cli_startup.py (a Typer app of three commands), alternated five
    times: what is left over the floor is Signoff's own (its command modules and the commands Typer builds)."""
    spec = importlib.util.spec_from_file_location("cli_startup", ROOT / "bench" / "cli_startup.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    (tmp_path / "floor.py").write_text(bench.FLOOR_APP, encoding="utf-8")
    floor: list[float] = []
    ours: list[float] = []
    for _ in range(5):
        floor.append(bench.cpu([sys.executable, "floor.py", "--help"], tmp_path))
        ours.append(bench.cpu([sys.executable, "-m", "signoff", "--help"], tmp_path))
    ratio = statistics.median(ours) / statistics.median(floor)
    assert ratio < FLOOR_RATIO, f"signoff --help took {statistics.median(ours):.3f} s of CPU, {ratio:.2f}x the floor"


def test_command_groups_are_imported_only_when_named() -> None:
    """`signoff --help` lists the groups by the help of GROUPS, without importing their modules."""
    modules, _ = _imports("--help")
    assert {"signoff.cli.users", "signoff.cli.audit", "signoff.cli.policy", "signoff.cli.models"} & modules == set()
    modules, _ = _imports("users", "--help")
    assert "signoff.cli.users" in modules and "signoff.cli.models" not in modules


def test_every_command_still_has_its_help() -> None:
    """Every command's --help works with the imports deferred: each name a signature needs is still there."""
    from typer.main import get_command
    from typer.testing import CliRunner

    from signoff.cli.main import GROUPS, LazyGroups, app

    group = get_command(app)
    assert isinstance(group, LazyGroups)
    commands: dict[str, Any] = {name: group.load(name) for name in GROUPS} | dict(group.commands)
    names: list[list[str]] = []
    for name, command in commands.items():
        subcommands = getattr(command, "commands", {})  # a group (Typer vendors its click)
        names += [[name, sub] for sub in subcommands] or [[name]]
    assert len(names) > 40
    for name in names:
        done = CliRunner().invoke(app, [*name, "--help"])
        assert done.exit_code == 0 and "Usage:" in done.output, (name, done.output)


def test_a_table_written_to_a_pipe_is_not_cut_to_80_columns(tmp_path: Path) -> None:
    """With no terminal and no $COLUMNS, a wide table keeps every row whole on one line (Rich would lay it out in
    80 columns and cut the cells with an ellipsis)."""
    project = make_project(tmp_path, f"sqlite:///{tmp_path / 'signoff.db'}")
    env = {k: v for k, v in environment().items() if k != "COLUMNS"}
    name = "reviewer-" + "x" * 70
    for args in (["db", "upgrade"], ["users", "add", name, "--role", "reviewer"]):
        assert signoff(*args, "-p", str(project.path), env=env).returncode == 0
    listed = signoff("users", "list", "-p", str(project.path), env=env)
    (row,) = [line for line in listed.stdout.splitlines() if "reviewer-" in line]
    assert name in row and "…" not in row and len(row) > 80
