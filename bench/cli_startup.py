"""Command-line start-up: the CPU time of ``signoff --help`` and of commands that need no model, beside floors.

Each measurement is one fresh ``python -m signoff ...`` process; its CPU time (user + system) comes from
``getrusage(RUSAGE_CHILDREN)`` around it, so waiting for a busy machine's cores does not count. The runs alternate
between the commands and the floors, ``--runs`` times each, and the median is reported:

- ``signoff --help``, ``signoff db --help``, ``signoff users --help``: the target is 0.3 s of CPU.
- ``signoff users list`` on the example project of ``signoff init`` (reads the database: it needs SQLAlchemy and
  the project file's models of pydantic, but no model, pandas or scikit-learn).
- Floors: ``python -c pass`` (the interpreter), and a Typer app of two commands printing its ``--help`` (what
  any command line built on Typer and Rich costs before it does anything).

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
import typer
app = typer.Typer(help="floor", no_args_is_help=True)
@app.command()
def one(x: int = 1) -> None:
    "One."
@app.command()
def two(x: int = 1) -> None:
    "Two."
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
        cases = {
            "python -c pass (floor)": ([python, "-c", "pass"], here),
            "Typer app --help (floor)": ([python, "floor.py", "--help"], here),
            "signoff --help": ([*signoff, "--help"], here),
            "signoff db --help": ([*signoff, "db", "--help"], here),
            "signoff users --help": ([*signoff, "users", "--help"], here),
            "signoff users list": ([*signoff, "users", "list"], here / "project"),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(runs):  # alternated, so that a busy moment touches every case alike
            for name, (argv, cwd) in cases.items():
                times[name].append(cpu(argv, cwd))
    floor = statistics.median(times["Typer app --help (floor)"])
    print(f"CPU seconds per run, median of {runs} (min - max); ratio to the Typer floor")
    for name, found in times.items():
        median = statistics.median(found)
        print(f"  {name:28} {median:6.3f}  ({min(found):.3f} - {max(found):.3f})  x{median / floor:4.2f}")


if __name__ == "__main__":
    main()
