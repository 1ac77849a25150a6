"""``signoff metrics`` and ``signoff report``: a flow's KPIs in the terminal, as JSON or as an HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from signoff.cli.common import ProjectOption, err, opened, out, table_of, write_whole

WindowOption = Annotated[str, typer.Option("--window", "-w", help="hour, day or week (the last one, to now).")]


def metrics_command(
    flow: Annotated[str, typer.Argument(help="The flow to measure.")],
    window: WindowOption = "day",
    as_json: Annotated[bool, typer.Option("--json", help="Print every metric as JSON instead of a table.")] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Check the flow's alert thresholds; record alerts; exit 1 on a breach.")
    ] = False,
    project: ProjectOption = None,
) -> None:
    """A flow's KPIs over the last hour, day or week: flag rate, turnaround, SLA, accuracy gain, cost, drift."""
    import json

    from signoff import audit
    from signoff.metrics import alerts
    from signoff.metrics import service as metrics_service
    from signoff.metrics.report import summary_rows

    with opened(project) as (loaded, db):
        found = metrics_service.flow_metrics(db, loaded, flow, window, points=0)
        raised = alerts.check(db, loaded, [flow]) if check else []
        if raised:
            audit.seal(db)
    if as_json:
        document = metrics_service.as_document(found)
        if check:
            document["alerts"] = [vars(a) for a in raised]
        print(json.dumps(document, indent=2))
    else:
        table = table_of(
            "metric",
            "value",
            title=f"{flow}: last {window} ({found.start:%Y-%m-%d %H:%M} to {found.end:%Y-%m-%d %H:%M} UTC)",
        )
        for name, value in summary_rows(found):
            table.add_row(name, value)
        out.print(table)
        for alert in raised:
            err.print(f"[bold red]alert[/] {alert.check}: {alert.message}", highlight=False)
    if raised:
        raise typer.Exit(1)


def report_command(
    flow: Annotated[str, typer.Argument(help="The flow to report on.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path("report.html"),
    window: WindowOption = "day",
    points: Annotated[int, typer.Option(min=1, max=90, help="Earlier windows in the trend charts.")] = 14,
    project: ProjectOption = None,
) -> None:
    """Write one self-contained HTML report of a flow's metrics, charts included (inline SVG, no external files)."""
    from signoff.metrics import service as metrics_service
    from signoff.metrics.report import render

    with opened(project) as (loaded, db):
        found = metrics_service.flow_metrics(db, loaded, flow, window, points=points)
        write_whole(output, [render(found)])
    out.print(f"Wrote {output} ({output.stat().st_size // 1024} KiB): {found.cases} cases in the last {window}.")
