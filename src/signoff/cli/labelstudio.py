"""``signoff labelstudio``: a flow's open review tasks exported for Label Studio, and its annotations imported back
as reviews."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated

import typer

from signoff.cli.common import FlowArgument, ProjectOption, fail, opened, out, policed, sealed, write_whole
from signoff.errors import InvalidInput

labelstudio_app = typer.Typer(no_args_is_help=True)  # its help: GROUPS in cli/main.py


@labelstudio_app.command("export")
def export(
    flow: FlowArgument,
    output: Annotated[Path, typer.Option("--output", "-o", help="The tasks file to write (Label Studio JSON).")],
    config: Annotated[
        Path | None,
        typer.Option(help="Where to write the labeling configuration (XML; default: the tasks file's name, .xml)."),
    ] = None,
    queue: Annotated[str | None, typer.Option(help="Only this queue's tasks.")] = None,
    project: ProjectOption = None,
) -> None:
    """Write the flow's open review tasks as Label Studio tasks: the case's fields as data, the model's prediction
    (label, confidence as score, model version) as a pre-annotation; and a labeling configuration with the flow's
    labels to create the Label Studio project with. Changes nothing."""
    from signoff.review import labelstudio

    config = config or output.with_suffix(".xml")
    with opened(project) as (loaded, db):
        found = loaded.flow(flow)
        tasks = labelstudio.export_tasks(db, found, queue)
        lines = write_whole(output, _json_list(json.dumps(task, separators=(",", ":")) for task in tasks))
        written = lines - 2  # the list's brackets
        config.write_text(labelstudio.labeling_config(found), encoding="utf-8")
    out.print(f"Wrote {written} open review tasks of flow {flow} to {output}, the labeling configuration to {config}.")


def _json_list(items: Iterable[str]) -> Iterator[str]:
    """A JSON list written an item a line: ``[``, the items, ``]``."""
    yield "[\n"
    for i, item in enumerate(items):
        yield ("," if i else "") + item + "\n"
    yield "]\n"


@labelstudio_app.command("import")
def import_command(
    flow: FlowArgument,
    path: Annotated[
        Path, typer.Argument(help="Label Studio's JSON export of the project's tasks.", exists=True, dir_okay=False)
    ],
    reviewer: Annotated[
        str, typer.Option("--as", callback=policed(name=True), help="The reviewer whose reviews these are.")
    ],
    project: ProjectOption = None,
) -> None:
    """Record each task's annotation as a review by REVIEWER (who must hold a reviewing role on the flow), through
    the same claim and submit as the review UI, audited. All or nothing: an unknown task, a label not of the flow,
    a task already completed or one the reviewer may not take is named, and nothing is recorded."""
    from signoff.review import labelstudio

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        fail(f"{path} is not JSON: {error}", 2)
    with sealed(project) as (loaded, db):
        try:
            done = labelstudio.import_annotations(db, loaded, loaded.flow(flow), reviewer, document)
        except InvalidInput as refused:  # every refused item on a line of its own, rather than one long line
            fail(_listed(refused), 2)
    decided = labelstudio.decided(done.results)
    out.print(
        f"Recorded {len(done.results)} reviews by {reviewer} on flow {flow}: {decided} cases decided; "
        f"{len(done.unannotated)} tasks had no annotation and stay open.",
        highlight=False,
    )


SHOWN = 100  # refused items listed; the rest are counted


def _listed(refused: InvalidInput) -> str:
    """The refusal's headline, then each problem on a line of its own (Rich markup escaped)."""
    lines = [refused.head, *(f"  {problem}" for problem in refused.problems[:SHOWN])]
    if len(refused.problems) > SHOWN:
        lines.append(f"  ... and {len(refused.problems) - SHOWN} more")
    return "\n".join(lines).replace("[", "\\[")
