"""The review lead's commands: queues and reviewers, assignment, escalation, and gold cases (``signoff gold``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from signoff.cli.common import ACTOR, ProjectOption, as_lead, out, policed, reading, sealed, table_of
from signoff.domain import MAX_ID

if TYPE_CHECKING:
    from signoff.review import ReviewerLoad

gold_app = typer.Typer(no_args_is_help=True)  # its help: GROUPS in cli/main.py


def queues(
    flow: Annotated[str | None, typer.Option(help="Only this flow's queues.")] = None,
    risk_window: Annotated[float, typer.Option(min=1, help="Seconds before the due time that count as at risk.")] = 900,
    project: ProjectOption = None,
) -> None:
    """Queue depth, oldest task, SLA risk, throughput, and each reviewer's load."""
    from signoff.review.queues import overview

    with reading(project) as db:
        found = overview(db, flows=None if flow is None else {flow}, risk_window=risk_window)
    table = table_of(
        "flow",
        "queue",
        "open",
        "leased",
        "oldest",
        "at risk",
        "overdue",
        "done last hour",
        title=f"Queues at {found.at:%Y-%m-%d %H:%M:%S} UTC",
    )
    for row in found.queues:
        age = row.oldest_age_seconds
        table.add_row(
            row.flow,
            row.queue,
            str(row.open),
            str(row.leased),
            "-" if age is None else f"{age / 60:.0f} min ago",
            str(row.at_risk),
            str(row.overdue),
            str(row.done_last_hour),
        )
    out.print(table)
    if found.reviewers:
        out.print(_load(found.reviewers, "Reviewers"))


def _load(rows: Sequence[ReviewerLoad], title: str) -> Table:
    """Each reviewer's leases held and reviews in the last hour."""
    table = table_of("reviewer", "leases held", "reviews last hour", title=title)
    for row in rows:
        table.add_row(row.name, str(row.leases_held), str(row.reviews_last_hour))
    return table


def reviewers(
    flow: Annotated[str | None, typer.Option(help="Only this flow's gold answers and pauses.")] = None,
    project: ProjectOption = None,
) -> None:
    """Each reviewer's load, gold accuracy (with its 95% interval) and pauses."""
    from signoff.review.queues import reviewers as floor

    with reading(project) as db:
        found = floor(db, flows=None if flow is None else {flow})
    load = _load(found.reviewers, f"Reviewers at {found.at:%H:%M:%S} UTC")
    gold = table_of("reviewer", "flow", "queue", "gold answers", "accuracy", "95% interval", title="Gold tasks")
    for row in found.gold:
        interval = f"{row.accuracy_low:.0%} - {row.accuracy_high:.0%}"
        gold.add_row(row.reviewer, row.flow, row.queue, str(row.answered), f"{row.accuracy:.0%}", interval)
    shown = table_of("flow", "queue", "cases", "Krippendorff's alpha", "Fleiss' kappa", title="Agreement")
    for queue in found.agreement.queues:
        shown.add_row(
            queue.flow,
            queue.queue,
            str(queue.cases),
            _figure(queue.krippendorff_alpha),
            _figure(queue.fleiss_kappa),
        )
    for pair in found.agreement.pairs:
        shown.add_row("", " & ".join(pair.reviewers), str(pair.cases), f"Cohen's {_figure(pair.cohen_kappa)}", "")
    for table, none in (
        (load, "No reviewer holds a lease or reviewed in the last hour."),
        (gold, "No gold answers yet."),
        (shown, "No case has had several independent reviews yet."),
    ):
        out.print(table if table.row_count else f"[dim]{none}[/]")
    for pause in found.pauses:
        out.print(f"[bold]paused[/] {pause.reviewer} on {pause.flow}/{pause.queue}: {pause.reason}")


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def assign(
    task_id: Annotated[int, typer.Argument(min=1, max=MAX_ID, help="An open task.")],
    reviewer: Annotated[
        str | None,
        typer.Argument(callback=policed(name=True), help="Who alone may claim it; leave out to free it."),
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Reserve a task for a named reviewer, or free it again."""
    from signoff.review import leads

    as_lead(project, lambda loaded, db, lead: leads.assign(db, loaded, lead, task_id, reviewer))
    out.print(f"task {task_id}: {'assigned to ' + reviewer if reviewer else 'open to every reviewer'}")


def escalate(project: ProjectOption = None) -> None:
    """Escalate due tasks now (a running server does this every 5 seconds)."""
    from signoff.review.escalation import escalate as sweep

    with sealed(project) as (loaded, db):
        done = sweep(db, loaded)
    for item in done:
        target = f"to {item.to_queue}" if item.to_queue else f"chain exhausted: {item.action}"
        out.print(f"task {item.task_id} ({item.flow}/{item.from_queue}): {target}")
    out.print(f"Escalated {len(done)} tasks.")


@gold_app.command("add")
def gold_add(
    flow: str,
    path: Annotated[Path, typer.Argument(help="CSV, Parquet or JSONL: the flow's fields plus the known answer.")],
    label_column: Annotated[str, typer.Option(help="The column holding the known answer.")] = "label",
    project: ProjectOption = None,
) -> None:
    """Add gold cases (known answers) that gold-enabled queues mix into reviewers' work. All or nothing."""
    from signoff import intake
    from signoff.inputs.labelled import read_labelled

    with sealed(project) as (loaded, db):
        runtime = intake.load(loaded, loaded.flow(flow), db, ACTOR)
        labelled = read_labelled(runtime.flow, path, label_column)
        added = intake.add_gold(db, runtime, labelled.cases, labelled.labels, ACTOR)
    out.print(f"Added {added} gold cases to flow {flow}.")
