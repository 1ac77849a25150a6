"""What every command group shares: the consoles, the common options, and the translation of Signoff's errors into
a message and an exit code."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from signoff import audit, text, users
from signoff.config import Project, load_project
from signoff.database import Database, open_database
from signoff.domain import User
from signoff.errors import ConfigError, InvalidInput, SignoffError

out = Console()
err = Console(stderr=True)

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
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and (reason := text.problem(item, name=name)) is not None:
                raise typer.BadParameter(reason)
        return value

    return check


NameArgument = Annotated[str, typer.Argument(callback=policed(name=True), help="A user name.")]


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
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


def database(project: Project, *, ready: bool = True) -> Database:
    return open_database(project, ready=ready)


def optional_database(project: Project) -> Database | None:
    """The store when it is ready (for audit-sample calibration), or None for a replay without one."""
    try:
        return database(project)
    except SignoffError:
        return None


@contextmanager
def sealed(path: Path | None) -> Iterator[tuple[Project, Database]]:
    """The project and its database for one audited change, under ``errors()``; the change's audit events are
    sealed once it has committed, before the command says what it did."""
    with errors():
        loaded = load_project(path)
        db = database(loaded)
        yield loaded, db
        audit.seal(db)


def as_lead(path: Path | None, change: Callable[[Project, Database, User], T]) -> T:
    """Make a lead's change (``signoff.review.leads``) under ``sealed``, with the operator as the lead: at the
    command line, whoever runs it."""
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
