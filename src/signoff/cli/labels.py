"""The labels a model learns from: recording outcomes (``signoff outcomes``) and checking and resolving label
conflicts (``signoff labels``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from signoff.cli.common import (
    ACTOR,
    FlowArgument,
    JsonOption,
    ProjectOption,
    ReasonOption,
    fail,
    opened,
    out,
    policed,
    progress,
    sealed,
    table_of,
)
from signoff.domain import MAX_ID

if TYPE_CHECKING:
    from signoff.config import Flow, Project
    from signoff.learning import outcomes
    from signoff.learning.labels import LabelConflict

labels_app = typer.Typer(no_args_is_help=True)  # its help: GROUPS in cli/main.py


def _flow(project: Project, name: str) -> Flow:
    if name not in project.flows:
        fail(f"flow {name!r} is not in {project.path}; flows: {', '.join(project.flows)}", 2)
    return project.flows[name]


def _chunks(path: Path, chunk_size: int) -> Iterator[list[outcomes.OutcomeIn]]:
    """The file's rows as outcomes, chunk by chunk (``external_id`` is read as cases are; the rest are fields)."""
    from signoff.inputs import files
    from signoff.learning import outcomes

    for rows, _text in files.read_chunks(path, chunk_size):
        items = []
        for row in rows:
            values = dict(row.fields or {})
            if row.external_id is not None:
                values["external_id"] = row.external_id
            items.append(outcomes.OutcomeIn(row.location, values))
        yield items


def outcomes_command(
    flow: FlowArgument,
    path: Annotated[
        Path,
        typer.Argument(
            help="A .csv or .jsonl file: case_id or external_id, label, and optionally source and observed_at.",
            exists=True,
            dir_okay=False,
        ),
    ],
    chunk_size: Annotated[int, typer.Option(min=1, max=100_000, help="Outcomes per transaction.")] = 5000,
    project: ProjectOption = None,
) -> None:
    """Record outcomes: the ground truth that arrived after the decision. The whole file is checked before anything
    is written; an outcome recorded before (same case, source and label) is a replay."""
    from signoff.inputs import files
    from signoff.learning import outcomes

    with sealed(project) as (loaded, db):
        found = _flow(loaded, flow)
        total = files.count_rows(path)
        created = replayed = 0
        with progress() as bar:
            checking = bar.add_task("Validating", total=total)

            def counted() -> Iterator[list[outcomes.OutcomeIn]]:
                for chunk in _chunks(path, chunk_size):
                    yield chunk
                    bar.advance(checking, len(chunk))

            outcomes.validate(db, found, counted())
            writing = bar.add_task("Recording ", total=total)
            for chunk in _chunks(path, chunk_size):
                done = outcomes.record(db, found, chunk, ACTOR)
                created += sum(o.created for o in done)
                replayed += sum(not o.created for o in done)
                bar.advance(writing, len(chunk))
    out.print(f"Recorded {created} outcomes of flow {flow}; {replayed} were recorded before.")


def _details(conflict: LabelConflict) -> str:
    """The disagreeing labels in a few words, e.g. ``alice: good, bob: bad``."""
    details = conflict.details
    parts = [f"{a['reviewer']}: {a['label']}" for a in details.get("answers", [])]
    parts += [f"outcome {o['source']}: {o['label']}" for o in details.get("outcomes", [])]
    if "expected" in details:
        parts.insert(0, f"gold: {details['expected']}")
    if "human" in details:
        parts.insert(0, f"{details['human']['decided_by']}: {details['human']['label']}")
    return ", ".join(parts)


def _table(found: list[LabelConflict], title: str) -> Table:
    table = table_of("id", "case", "kind", "labels", "resolved", title=title)
    for c in found:
        resolved = f"{c.resolved_label} by {c.resolved_by}" if c.resolved else "-"
        table.add_row(str(c.id), str(c.case_id), c.kind.value, _details(c), resolved)
    return table


@labels_app.command("check")
def check(
    flow: FlowArgument,
    as_json: JsonOption = False,
    project: ProjectOption = None,
) -> None:
    """Find the flow's label conflicts of every kind and record the new ones (re-checking duplicates none)."""
    from signoff.learning import labels

    with sealed(project) as (loaded, db):
        report = labels.check(db, _flow(loaded, flow), ACTOR)
    if as_json:
        for c in report.open:
            out.print_json(json.dumps({**vars(c), "resolved": c.resolved}, default=str), indent=None)
    else:
        found = f"{report.found} conflict{'' if report.found == 1 else 's'}"
        out.print(
            f"{found} found in flow {flow}: {len(report.new)} new, {len(report.reopened)} reopened, "
            f"{len(report.open)} open."
        )
        if report.open:
            out.print(_table(report.open, "Open label conflicts"))
            out.print(f"Resolve each with: signoff labels resolve {flow} ID --label LABEL --reason TEXT")


@labels_app.command("list")
def list_conflicts(
    flow: FlowArgument,
    status: Annotated[str, typer.Option(help="open, resolved or all.")] = "open",
    project: ProjectOption = None,
) -> None:
    """The flow's recorded label conflicts (``check`` finds new ones)."""
    from signoff.learning import labels

    with opened(project) as (loaded, db):
        _flow(loaded, flow)
        found = labels.conflicts(db, [flow], status=status)
    out.print(_table(found, f"Label conflicts of {flow} ({status})"))


@labels_app.command("resolve")
def resolve(
    flow: FlowArgument,
    conflict_id: Annotated[int, typer.Argument(min=1, max=MAX_ID, help="The conflict's id.")],
    label: Annotated[str, typer.Option(callback=policed(name=True), help="The label that wins.")],
    reason: ReasonOption,
    project: ProjectOption = None,
) -> None:
    """Say which label wins a conflict, and why; until then the case is never trained on."""
    from signoff.learning import labels

    with sealed(project) as (loaded, db):
        done = labels.resolve(db, _flow(loaded, flow), conflict_id, label, reason, ACTOR)
    out.print(f"Conflict {done.id} ({done.kind.value}) on case {done.case_id} resolved: {done.resolved_label} wins.")
