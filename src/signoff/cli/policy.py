"""``signoff policy``: check flows, and replay labelled cases through a flow's policy."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from signoff.cli.common import ProjectOption, err, errors, load_project, optional_database, out

if TYPE_CHECKING:
    from signoff.config import Flow
    from signoff.intake import CalibrationSet, FlowRuntime
    from signoff.learning.evaluate import Evaluation, RuleCertificate
    from signoff.routing import Policy, PolicyState

policy_app = typer.Typer(no_args_is_help=True)  # its help: GROUPS in cli/main.py


@policy_app.command("check")
def policy_check(
    flow: Annotated[str | None, typer.Argument(help="The flow to check (default: every flow).")] = None,
    project: ProjectOption = None,
) -> None:
    """Validate flows: their fields, model, rules and business-rule expressions, and show what the learning rules
    certify on the calibration file, without touching the database."""
    from signoff import intake
    from signoff.learning import evaluate as evaluation

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
                highlight=False,
            )
            found = evaluation.certificates_of(runtime.state.snapshot())
            for line in _certificate_lines(found):
                out.print(f"  {line}", soft_wrap=True, highlight=False, markup=False)
            if runtime.policy.learning_rules:
                _warn(_warnings(intake.calibration_set(None, runtime), found))


@policy_app.command("evaluate")
def policy_evaluate(
    flow: Annotated[str, typer.Argument(help="The flow whose policy to replay.")],
    labeled: Annotated[Path, typer.Option(help="A file of cases with a label column.", exists=True, dir_okay=False)],
    label_column: Annotated[str, typer.Option(help="The column that holds the true label.")] = "label",
    alpha: Annotated[
        list[float] | None,
        typer.Option(help="Replay with every learning rule at this alpha instead; repeat for several variants."),
    ] = None,
    policy: Annotated[
        list[Path] | None,
        typer.Option(
            help="Replay with the rules of this YAML file (a list, as under the flow's policy:) instead of the flow's "
            "own; repeat for several variants.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    plot: Annotated[Path | None, typer.Option(help="Draw the risk-coverage curve to this PNG or SVG file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the evaluation as JSON.")] = False,
    project: ProjectOption = None,
) -> None:
    """Replay labelled cases through a flow's policy: flag rate, model errors caught, error on auto-decided, and
    each learning rule's certificate or refusal. The cases are scored once, whatever the number of variants (each
    --policy file with each --alpha)."""
    import dataclasses
    import json

    from signoff import config, intake
    from signoff.inputs.labelled import read_labelled
    from signoff.learning import evaluate as evaluation
    from signoff.routing import Policy

    with errors():
        for value in alpha or []:
            if not 0 < value < 1:
                raise typer.BadParameter(
                    f"expected a number strictly between 0 and 1, got {value:g}", param_hint="--alpha"
                )
        loaded = load_project(project)
        flows = [(path.name, config.with_policy(loaded.flow(flow), path)) for path in policy or []]  # all checked
        data = read_labelled(loaded.flow(flow), labeled, label_column)  # a bad file fails before any model loads
        runtime = intake.load(loaded, loaded.flow(flow))  # a replay records nothing
        db = optional_database(loaded)
        if db is not None:  # calibrate on the audit sample too, as the server would
            intake.warm_up(db, runtime)
        policies = [runtime.policy, *(Policy(f, runtime.policy.profile) for _, f in flows)]
        scoring = next((p for p in policies if p.needs_members), runtime.policy)  # members only if a rule reads them
        batch = intake.batch_of(dataclasses.replace(runtime, policy=scoring), data.frame)
        learning = any(p.learning_rules for p in policies)
        calibration = intake.calibration_set(db, runtime) if learning or alpha else None
        variants = _variants(runtime, flows, alpha, calibration)
        results = [(name, evaluation.evaluate(p, state, batch, data.labels)) for name, p, state in variants]
    warnings = list(dict.fromkeys(w for _, r in results for w in _warnings(calibration, r.certificates)))
    if as_json:

        def shown(result: Evaluation) -> dict[str, object]:
            return dataclasses.asdict(result) | {"coverage": None, "risk": None}

        if alpha or policy:
            document: dict[str, object] = {"variants": [name | shown(r) for name, r in results]}
        else:
            document = shown(results[0][1])
        print(json.dumps(document | {"calibration_warnings": warnings}, indent=2))
    else:
        for name, result in results:
            titles = [f"alpha {v:g}" if k == "alpha" else str(v) for k, v in name.items()]
            _print_evaluation(", ".join([flow, *titles]), result)
        _print_curve(results[0][1])
        _warn(warnings)
    if plot is not None:
        evaluation.plot(results[0][1], plot, f"{flow}: risk-coverage on {labeled.name}")
        out.print(f"Risk-coverage curve written to {plot}")


def _variants(
    runtime: FlowRuntime, flows: list[tuple[str, Flow]], alphas: list[float] | None, calibration: CalibrationSet | None
) -> list[tuple[dict[str, str | float], Policy, PolicyState]]:
    """Each policy (the flow's own, or each of ``flows``) at each alpha (or as written), named for the output."""
    from signoff import intake

    found: list[tuple[dict[str, str | float], Policy, PolicyState]] = []
    for policy_name, flow in flows or [("", runtime.flow)]:
        named: dict[str, str | float] = {"policy": policy_name} if policy_name else {}
        choices: list[float | None] = [*alphas] if alphas else [None]
        for alpha in choices:
            if alpha is not None and calibration is not None:
                found.append((named | {"alpha": alpha}, *intake.with_alpha(runtime, alpha, calibration, flow)))
            elif flow is runtime.flow:  # as loaded: certified when the runtime warmed up
                found.append((named, runtime.policy, runtime.state.snapshot()))
            else:
                found.append((named, *intake.with_rules(runtime, flow, calibration)))
    return found


def _warnings(calibration: CalibrationSet | None, found: list[RuleCertificate]) -> list[str]:
    from signoff.learning import evaluate as evaluation

    if calibration is None:
        return []
    return evaluation.calibration_warnings(calibration.human, calibration.unscored, calibration.unscored_reason, found)


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        err.print(f"warning: {warning}", soft_wrap=True, highlight=False, markup=False)


def _certificate_lines(found: list[RuleCertificate]) -> list[str]:
    """One line per rule (and segment): its certificate, or its refusal with the reason."""
    return [
        f"{c.rule}{'' if c.segment is None else f' [{c.segment}]'}: "
        + (
            f"threshold {c.threshold:.4g}, alpha {c.alpha:g}"
            + ("" if c.delta is None else f", delta {c.delta:g}")
            + f", {c.calibration_size:,} calibration cases, {c.method}"
            if c.certified and c.threshold is not None
            else f"refused ({c.method}, {c.calibration_size:,} calibration cases): {c.reason}"
        )
        for c in found
    ]


def _print_evaluation(title: str, result: Evaluation) -> None:
    table = Table(title=f"Policy replay: {title}", show_header=False)
    table.add_row("labelled cases", str(result.cases))
    if result.unscored:
        table.add_row("unscored by the model (sent to review)", str(result.unscored))
    table.add_row("flag rate (sent to review)", f"{result.flag_rate:.2%}")
    table.add_row("random audit rate", f"{result.audit_rate:.2%}")
    table.add_row("model errors", str(result.model_errors))
    table.add_row("model errors sent to review", f"{result.errors_caught:.2%}")
    auto_error = "no case auto-decided" if result.auto_error is None else f"{result.auto_error:.3%}"
    table.add_row("error on auto-decided cases", auto_error)
    for rule, count in sorted(result.by_rule.items()):
        table.add_row(f"  fired: {rule}", str(count))
    for line in _certificate_lines(result.certificates):
        rule, _, detail = line.partition(": ")
        table.add_row(f"  certificate: {rule}", detail)
    out.print(table)


def _print_curve(result: Evaluation) -> None:
    curve = Table("coverage", "confidence threshold", "error among covered", title="Risk-coverage (model alone)")
    for coverage, threshold, risk in result.table:
        curve.add_row(f"{coverage:.1%}", f"{threshold:.4f}", f"{risk:.3%}")
    out.print(curve)
    if result.unscored:
        out.print(
            f"{result.unscored:,} case(s) the model could not score count as deferred: "
            f"coverage stops at {(result.cases - result.unscored) / result.cases:.1%}."
        )
