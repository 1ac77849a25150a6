"""``signoff plan``: how many reviewers a flow needs, from Erlang C; ``signoff simulate``: the engine itself run on a
simulated clock through a scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from signoff.cli.common import (
    FlowArgument,
    ProjectOption,
    err,
    errors,
    fail,
    load_project,
    out,
    table_of,
    write_whole,
)
from signoff.cli.common import progress as common_progress

FLAG_RATES = (0.02, 0.05, 0.07, 0.1, 0.15, 0.2)


def plan_command(
    flow: FlowArgument,
    arrivals: Annotated[float, typer.Option("--arrivals", help="Cases reaching the flow per hour.", min=0)],
    service_time: Annotated[
        str, typer.Option("--service-time", help="Mean time of one review: 90s, 4m, 1.5h (a number alone: seconds).")
    ],
    sla: Annotated[
        str | None, typer.Option("--sla", help="Time to a decision to meet, such as 2h (default: the queue's SLA).")
    ] = None,
    target: Annotated[float, typer.Option("--target", help="Share of reviews to decide within the SLA.")] = 0.95,
    flag_rate: Annotated[
        list[float] | None,
        typer.Option("--flag-rate", help="A share of cases sent to review (repeat; default 2% to 20%)."),
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write an HTML page with a chart.")] = None,
    project: ProjectOption = None,
) -> None:
    """Reviewers needed against the flag rate, from an Erlang C (M/M/c) estimate: a table, and a chart with -o."""
    from signoff.clock import seconds
    from signoff.metrics import queueing
    from signoff.metrics.report import PLAN_HEAD, plan_rows, render_plan

    with errors():
        found = load_project(project).flow(flow)
    queue_sla = found.queues[found.default_queue].sla if found.default_queue in found.queues else None
    try:
        mean = seconds(service_time)
        deadline = seconds(sla) if sla is not None else queue_sla
        if deadline is None:
            fail(f"flow {flow!r}: its queue {found.default_queue!r} has no SLA; give one with --sla", 2)
        rates = sorted(set(flag_rate or FLAG_RATES))
        staffing = queueing.plan(arrivals / 3600, rates, mean, deadline, target)
    except ValueError as error:
        fail(str(error), 2)
    table = table_of(*PLAN_HEAD, title=f"{flow}: {arrivals:,g} cases per hour, {target:.0%} within {deadline:g} s")
    for row in plan_rows(rates, staffing):
        table.add_row(*row)
    out.print(table)
    if output is not None:
        write_whole(output, [render_plan(flow, arrivals / 3600, rates, staffing, deadline, target)])
        err.print(f"Wrote {output}.")


def _duration(text: str) -> float:
    from signoff.clock import seconds

    try:
        return seconds(text)
    except ValueError as error:
        fail(f"--duration: {error}", 2)


def simulate_command(
    scenario: Annotated[str, typer.Argument(help="A scenario file (YAML), or a shipped scenario's name: credit.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML report to write.")] = Path("report.html"),
    duration: Annotated[
        str | None, typer.Option("--duration", help="Simulate this long instead of the scenario's duration: 1d, 12h.")
    ] = None,
    database: Annotated[
        Path | None,
        typer.Option("--database", help="Keep the simulation's SQLite database here (default: a temporary one)."),
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Run the engine itself on a simulated clock through a scenario, and write an HTML report."""
    import tempfile

    from signoff.sim import report
    from signoff.sim.scenario import load_scenario, resolve
    from signoff.sim.simulate import Simulation

    with errors():
        loaded = load_project(project)
        found = load_scenario(resolve(scenario))
        if duration is not None:
            found = found.model_copy(update={"duration": _duration(duration)})
        loaded.flow(found.flow)
    if database is not None and database.exists():
        fail(f"{database} exists: a simulation starts from a new database", 2)
    with tempfile.TemporaryDirectory(prefix="signoff-sim-") as scratch, errors():
        simulation = Simulation(found, loaded, database or Path(scratch) / "simulation.db")
        try:
            with common_progress() as bar:
                task = bar.add_task(f"Simulating {found.duration / 86_400:g} days", total=100)
                result = simulation.run(lambda share: bar.update(task, completed=round(100 * share, 1)))
            write_whole(output, [report.render(result, loaded, simulation.metrics())])
        finally:
            simulation.close()
    out.print(
        f"Wrote {output}: {result.cases:,} cases, {result.sent_to_review:,} sent to review, "
        f"{result.events:,} events in {result.wall_seconds:.0f} s."
    )
