"""What every command group shares: the consoles, the common options, and the translation of Signoff's errors into
a message and an exit code.

The command modules import only Typer, Rich and what their signatures name at the top; the services (and their
pandas, scikit-learn, SQLAlchemy) are imported inside the commands that use them, so that ``signoff --help`` and a
command's ``--help`` start in a fraction of a second (``tests/acceptance/test_cli_startup.py``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Column, Table

from signoff.errors import ConfigError, InvalidInput, SignoffError

if TYPE_CHECKING:
    from rich.progress import Progress

    from signoff.config import Project
    from signoff.database import Database
    from signoff.domain import User

LOG_WIDTH = 1000  # a pipe or a file has no width: lines there are as long as they need (Rich would use 80)


def _console(stderr: bool) -> Console:
    """A console on stdout or stderr: as wide as the terminal, or, written to a pipe or a file with no $COLUMNS,
    wide enough that no table or message is cut or wrapped to fit 80 columns."""
    piped = not (sys.stderr if stderr else sys.stdout).isatty() and "COLUMNS" not in os.environ
    return Console(stderr=stderr, width=LOG_WIDTH if piped else None)


out = _console(stderr=False)
err = _console(stderr=True)

ProjectOption = Annotated[
    Path | None,
    typer.Option("--project", "-p", help="The project file (default: $SIGNOFF_PROJECT or ./signoff.yaml)."),
]
FlowsOption = Annotated[
    list[str] | None,
    typer.Option("--flow", help="A flow the role holds on (repeat for several; leave out for every flow)."),
]
ACTOR = "cli"
T = TypeVar("T")


def policed(name: bool) -> Any:
    """A Typer callback that refuses (usage error, exit 2) an argument breaking the text policy (``signoff.text``):
    a name, or free text; a list is checked item by item."""

    def check(value: Any) -> Any:
        from signoff import text

        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and (reason := text.problem(item, name=name)) is not None:
                raise typer.BadParameter(reason)
        return value

    return check


NameArgument = Annotated[str, typer.Argument(callback=policed(name=True), help="A user name.")]
FlowArgument = Annotated[str, typer.Argument(callback=policed(name=True), help="The flow.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
CasesFlowArgument = Annotated[str, typer.Argument(help="The flow the cases belong to.")]
PortOption = Annotated[int, typer.Option(min=1, max=65535)]
OutputOption = Annotated[Path | None, typer.Option("--output", "-o", help="The file to write (default: stdout).")]
ReasonOption = Annotated[str, typer.Option(callback=policed(name=False), help="Why (kept in the audit trail).")]


def table_of(*headers: str, **options: Any) -> Table:
    """A Rich table whose cells wrap within their column when the terminal is narrow, instead of being cut with an
    ellipsis: an id, a name or a number is never shortened."""
    return Table(*(Column(header, overflow="fold") for header in headers), **options)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def errors() -> Iterator[None]:
    """Turn Signoff's errors into a message and an exit code instead of a traceback."""
    try:
        yield
    except (ConfigError, InvalidInput) as error:
        fail(str(error).replace("[", "\\["), 2)
    except SignoffError as error:
        fail(str(error).replace("[", "\\["))


def progress() -> Progress:
    """The progress bar of long work over a file (on stderr, so that output stays clean)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


def load_project(path: Path | None) -> Project:
    """``signoff.config.load_project``, imported when a command first needs it."""
    from signoff import config

    return config.load_project(path)


def steps() -> Callable[[str], None]:
    """A function that says, on stderr, which step of a long build starts, with the seconds since the first: a
    line per step, readable in a log or a pipe as well as in a terminal."""
    import time

    start = time.monotonic()

    def step(message: str) -> None:
        err.print(f"[dim]{time.monotonic() - start:5.1f}s[/] {message}...", highlight=False)

    return step


def database(project: Project, *, ready: bool = True) -> Database:
    from signoff.database import open_database

    return open_database(project, ready=ready)


def _may_exist(url: str) -> bool:
    """False only for a SQLite file that is not there, which opening would create. Kept here rather than in
    ``signoff.database``: importing that costs a replay 0.25 s of CPU for Alembic."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or not path or path == ":memory:" or parsed.query.get("uri"):
        return True
    return path.startswith("file:") or Path(path).exists()


def optional_database(project: Project) -> Database | None:
    """The store when it is ready (for audit-sample calibration), or None for a replay without one; a SQLite
    file that is not there is not created."""
    if not _may_exist(project.database_url):
        return None
    try:
        return database(project)
    except SignoffError:
        return None


@contextmanager
def opened(path: Path | None) -> Iterator[tuple[Project, Database]]:
    """The project and its database, under ``errors()``: a command's failures become a message and an exit code."""
    with errors():
        loaded = load_project(path)
        yield loaded, database(loaded)


@contextmanager
def reading(path: Path | None) -> Iterator[Database]:
    """The project's database for a command that only reads it, under ``errors()``."""
    with opened(path) as (_, db):
        yield db


@contextmanager
def sealed(path: Path | None) -> Iterator[tuple[Project, Database]]:
    """The project and its database for one audited change, under ``errors()``; the change's audit events are
    sealed once it has committed, before the command says what it did."""
    from signoff import audit

    with opened(path) as (loaded, db):
        yield loaded, db
        audit.seal(db)


def as_lead(path: Path | None, change: Callable[[Project, Database, User], T]) -> T:
    """Make a lead's change (``signoff.review.leads``) under ``sealed``, with the operator as the lead: at the
    command line, whoever runs it."""
    from signoff import users

    with sealed(path) as (loaded, db):
        return change(loaded, db, users.operator(ACTOR))


def write_whole(output: Path, lines: Iterable[str]) -> int:
    """Write ``lines`` to ``output`` under a ``.partial`` name and rename it when complete, so that an interrupted
    write never leaves a cut-off file; the number of lines."""
    partial = output.with_name(output.name + ".partial")
    count = 0
    try:
        with partial.open("w", encoding="utf-8", newline="") as file:
            for line in lines:
                file.write(line)
                count += 1
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    return count
