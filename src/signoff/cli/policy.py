"""``signoff policy``: check flows, and replay labelled cases through a flow's policy."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from signoff.cli.common import ProjectOption, errors, load_project, optional_database, out

if TYPE_CHECKING:
    from signoff.learning.evaluate import Evaluation

policy_app = typer.Typer(help="Routing policies: check, replay on labelled data.", no_args_is_help=True)


@policy_app.command("check")
def policy_check(
    flow: Annotated[str | None, typer.Argument(help="The flow to check (default: every flow).")] = None,
    project: ProjectOption = None,
) -> None:
    """Validate flows: their fields, model, rules and business-rule expressions, without touching the database."""
    from signoff import intake

    with errors():
        loaded = load_project(project)
        names = [flow] if flow is not None else list(loaded.flows)
        for name in names:
            runtime = intake.load(loaded, loaded.flow(name))
            rules = ", ".join(f"{r.name} ({r.kind})" for r in runtime.flow.policy) or "no rules: the model decides all"
            out.print(
                f"[green]ok[/] {name}: policy {runtime.policy.version[:12]}, model {runtime.model.version}; "
                f"rules: {rules}; audit rate {runtime.flow.audit.rate:g}",
                soft_wrap=True,
            )


@policy_app.command("evaluate")
def policy_evaluate(
    flow: Annotated[str, typer.Argument(help="The flow whose policy to replay.")],
    labeled: Annotated[Path, typer.Option(help="A file of cases with a label column.", exists=True, dir_okay=False)],
    label_column: Annotated[str, typer.Option(help="The column that holds the true label.")] = "label",
    plot: Annotated[Path | None, typer.Option(help="Draw the risk-coverage curve to this PNG or SVG file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the evaluation as JSON.")] = False,
    project: ProjectOption = None,
) -> None:
    """Replay labelled cases through a flow's policy: flag rate, model errors caught, error on auto-decided."""
    import dataclasses
    import json

    from signoff import intake
    from signoff.inputs.labelled import read_labelled
    from signoff.learning import evaluate as evaluation

    with errors():
        loaded = load_project(project)
        runtime = intake.load(loaded, loaded.flow(flow))  # a replay records nothing
        db = optional_database(loaded)
        if db is not None:  # calibrate on the audit sample too, as the server would
            intake.warm_up(db, runtime)
        data = read_labelled(runtime.flow, labeled, label_column)
        batch = intake.batch_of(runtime, data.frame)
        result = evaluation.evaluate(runtime.policy, runtime.state.snapshot(), batch, data.labels)
    if as_json:
        print(json.dumps(dataclasses.asdict(result) | {"coverage": None, "risk": None}, indent=2))
    else:
        _print_evaluation(flow, result)
    if plot is not None:
        evaluation.plot(result, plot, f"{flow}: risk-coverage on {labeled.name}")
        out.print(f"Risk-coverage curve written to {plot}")


def _print_evaluation(flow: str, result: Evaluation) -> None:
    table = Table(title=f"Policy replay: {flow}", show_header=False)
    table.add_row("labelled cases", str(result.cases))
    table.add_row("flag rate (sent to review)", f"{result.flag_rate:.2%}")
    table.add_row("random audit rate", f"{result.audit_rate:.2%}")
    table.add_row("model errors", str(result.model_errors))
    table.add_row("model errors sent to review", f"{result.errors_caught:.2%}")
    auto_error = "no case auto-decided" if result.auto_error is None else f"{result.auto_error:.3%}"
    table.add_row("error on auto-decided cases", auto_error)
    for rule, count in sorted(result.by_rule.items()):
        table.add_row(f"  fired: {rule}", str(count))
    out.print(table)
    curve = Table("coverage", "confidence threshold", "error among covered", title="Risk-coverage (model alone)")
    for coverage, threshold, risk in result.table:
        curve.add_row(f"{coverage:.1%}", f"{threshold:.4f}", f"{risk:.3%}")
    out.print(curve)
