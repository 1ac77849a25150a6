"""Command-line start-up: the CPU time of ``signoff --help`` and of commands that need no model, beside floors.

Each measurement is one fresh ``python -m signoff ...`` process; its CPU time (user + system) comes from
``getrusage(RUSAGE_CHILDREN)`` around it, so waiting for a busy machine's cores does not count. The runs alternate
between the commands and the floors, ``--runs`` times each, and the median is reported:

- ``signoff --help``, ``signoff db --help``, ``signoff users --help``: the target is 0.3 s of CPU.
- ``signoff users list`` on the example project of ``signoff init`` (reads the database: it needs SQLAlchemy and
  the project file's models of pydantic, but no model, pandas or scikit-learn).
- Floors: ``python -c pass`` (the interpreter), and a Typer app of a command and a group of two, printing its
  ``--help`` and its group's ``--help`` (what any command line built on Typer and Rich costs before it does
  anything; a group's help costs more, as Typer builds its commands' parameters with pydantic).

Run: ``make bench-startup`` or ``.venv/bin/python bench/cli_startup.py``. It prints numbers; it asserts nothing.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

FLOOR_APP = """
from pathlib import Path
from typing import Annotated
import typer
app = typer.Typer(help="floor", no_args_is_help=True)
group = typer.Typer(help="A group.", no_args_is_help=True)
Project = Annotated[Path | None, typer.Option("--project")]
@group.command()
def one(name: str, project: Project = None) -> None:
    "One."
@group.command()
def two(count: int = 1, project: Project = None) -> None:
    "Two."
app.add_typer(group, name="group")
@app.command()
def three(count: int = 1) -> None:
    "Three."
app()
"""


def cpu(argv: list[str], cwd: Path) -> float:
    """The CPU seconds (user + system) of one run of ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603  # ours
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    python = sys.executable
    with tempfile.TemporaryDirectory() as folder:
        here = Path(folder)
        (here / "floor.py").write_text(FLOOR_APP, encoding="utf-8")
        signoff = [python, "-m", "signoff"]
        for args, cwd in ((["init", "project"], here), (["db", "upgrade"], here / "project")):
            subprocess.run([*signoff, *args], cwd=cwd, check=True, capture_output=True)  # noqa: S603  # our own command
        floor, group = "Typer app --help (floor)", "Typer app group --help (floor)"
        cases = {  # name: (command, folder, the floor it is measured against)
            "python -c pass (floor)": ([python, "-c", "pass"], here, floor),
            floor: ([python, "floor.py", "--help"], here, floor),
            group: ([python, "floor.py", "group", "--help"], here, group),
            "signoff --help": ([*signoff, "--help"], here, floor),
            "signoff db --help": ([*signoff, "db", "--help"], here, group),
            "signoff users --help": ([*signoff, "users", "--help"], here, group),
            "signoff users list": ([*signoff, "users", "list"], here / "project", floor),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(runs):  # alternated, so that a busy moment touches every case alike
            for name, (argv, cwd, _floor) in cases.items():
                times[name].append(cpu(argv, cwd))
    print(f"CPU seconds per run, median of {runs} (min - max), and the ratio to its floor")
    for name, (_argv, _cwd, base) in cases.items():
        median, found = statistics.median(times[name]), times[name]
        ratio = median / statistics.median(times[base])
        print(f"  {name:32} {median:6.3f}  ({min(found):.3f} - {max(found):.3f})  x{ratio:4.2f} of {base}")


if __name__ == "__main__":
    main()
