"""``signoff models``: a flow's model versions, one version's lineage, the evidence for a challenger, promotion
through the gate, shadow and canary, and roll-back."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
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
    opened,
    out,
    sealed,
    table_of,
)
from signoff.errors import PromotionRefused

if TYPE_CHECKING:
    from signoff.learning import registry
    from signoff.learning.records import Comparison

models_app = typer.Typer(no_args_is_help=True)  # its help: GROUPS in cli/main.py

VersionArgument = Annotated[str, typer.Argument(help="The model version (as `signoff models list` names it).")]


def _plain(version: registry.ModelVersion) -> object:
    """The version as the JSON ``--json`` prints (times and paths as text)."""
    return json.loads(json.dumps(dataclasses.asdict(version), default=str))


def _metrics(metrics: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items())) or "-"


@models_app.command("list")
def models_list(flow: FlowArgument, as_json: JsonOption = False, project: ProjectOption = None) -> None:
    """Every version of a flow, newest first: status, training set, held-out metrics, who changed its status."""
    from signoff.learning import registry

    with opened(project) as (loaded, db):
        found = registry.versions(db, loaded.flow(flow))
    if as_json:
        out.print_json(data=[_plain(v) for v in found])
        return
    if not found:
        out.print(f"Flow {flow!r} has no model version yet: every case goes to review (cold start).")
        return
    table = table_of("version", "status", "kind", "training set", "held-out metrics", "status changed")
    for v in found:
        changed = f"{v.status_changed_at:%Y-%m-%d %H:%M} by {v.status_changed_by}" if v.status_changed_at else "-"
        trained = "-" if v.training_set_id is None else str(v.training_set_id)
        table.add_row(v.version, v.status.value, v.kind, trained, _metrics(v.metrics), changed)
    out.print(table)


@models_app.command("show")
def models_show(
    flow: FlowArgument, version: VersionArgument, as_json: JsonOption = False, project: ProjectOption = None
) -> None:
    """One version and its lineage: the training set, its window, and every case it learned from with the label
    and where the label came from."""
    from signoff.learning import registry

    with opened(project) as (loaded, db):
        found = registry.version(db, loaded.flow(flow), version)
    if as_json:
        out.print_json(data=_plain(found))
        return
    out.print(f"[bold]{found.flow} {found.version}[/]: {found.status.value}", highlight=False)
    rows = [
        ("kind", found.kind),
        ("artifact", found.uri or "-"),
        ("artifact sha256", found.sha256 or "-"),
        ("fingerprint", found.fingerprint or "- (a flow file's model)"),
        ("parent", "-" if found.parent_id is None else str(found.parent_id)),
        ("held-out metrics", _metrics(found.metrics)),
        ("registered", f"{found.created_at:%Y-%m-%d %H:%M:%S} by {found.created_by or '-'}"),
    ]
    if found.status_changed_at is not None:
        rows.append(("status changed", f"{found.status_changed_at:%Y-%m-%d %H:%M:%S} by {found.status_changed_by}"))
    for name, value in rows:
        out.print(f"  {name}: {value}", highlight=False, soft_wrap=True)
    lineage = found.lineage
    if lineage is None:
        out.print("  lineage: none (not trained on a recorded training set)")
        return
    window = f"{lineage.window_start} .. {lineage.window_end}"
    out.print(f"  training set: {lineage.training_set_id}, window {window}, sha256 {lineage.sha256}", soft_wrap=True)
    sources = ", ".join(f"{s} {n}" for s, n in lineage.sources.items()) or "none"
    out.print(f"  examples: {len(lineage.examples)} ({sources})", highlight=False)
    table = table_of("case", "label", "source", "part")
    for e in lineage.examples:
        table.add_row(str(e.case_id), e.label, e.source, e.part)
    out.print(table)


def _figures(comparison: Comparison) -> Table:
    table = table_of("figure", "champion", "challenger")
    for name in ("accuracy", "auc", "log_loss", "ece", "flag_rate", "auto_error"):
        table.add_row(name, *(_figure(getattr(p, name)) for p in (comparison.champion, comparison.challenger)))
    for group in comparison.groups:
        figures = [f"{p.accuracy:.4f} / {_figure(p.auc)} ({p.n})" for p in (group.champion, group.challenger)]
        table.add_row(f"{group.attribute}={group.group}: accuracy / AUC (cases)", *figures)
    return table


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


@models_app.command("evaluate")
def models_evaluate(
    flow: FlowArgument, version: VersionArgument, as_json: JsonOption = False, project: ProjectOption = None
) -> None:
    """Weigh a version against the champion: both models on the held-out human-verified cases (judged) and on the
    random audit sample (weighted; it refuses only a significantly worse challenger), the certified rules
    recalibrated on the challenger's own scores, and the gate's decision with every condition's numbers. Changes
    nothing."""
    from signoff.learning import promotion

    with opened(project) as (loaded, db):
        found = promotion.weigh(db, loaded, loaded.flow(flow), version)
    if as_json:
        out.print_json(data=found.summary())
        return
    verdict = "[green]promote[/]" if found.decision.promote else "[red]refuse[/]"
    out.print(f"[bold]{flow} {found.challenger.version}[/] against the champion {found.champion.version}: {verdict}")
    held = found.held_out
    out.print(f"Held-out human-verified cases: {held.n}{' (weighted)' if held.weighted else ''}", highlight=False)
    out.print(_figures(held))
    sample = found.audit_sample
    if sample is None:
        out.print("Random audit sample: no audited case outside both models' training sets.")
    else:
        out.print(f"Random audit sample (weighted by inclusion probability): {sample.n} cases", highlight=False)
        out.print(_figures(sample))
    out.print(f"Calibration cases: {found.calibration_cases}; unscored: {found.unscored}", highlight=False)
    for title, lines in (("failed", found.decision.reasons), ("passed", found.decision.passed)):
        for line in lines:
            out.print(f"  {title}: {line}", highlight=False, soft_wrap=True)


@models_app.command("promote")
def models_promote(
    flow: FlowArgument,
    version: VersionArgument,
    reason: ReasonOption,
    override: Annotated[
        bool, typer.Option("--override", help="Promote even if the gate refuses (audited as an override).")
    ] = False,
    project: ProjectOption = None,
) -> None:
    """Make a version the champion if the promotion gate passes (the previous one is retired), audited with the
    evidence; the open review cases are re-scored by it. A refusal names every failed condition with its numbers
    and changes nothing but the audit trail; ``--override`` promotes anyway, recorded as an override."""
    from signoff import audit
    from signoff.learning import promotion

    with sealed(project) as (loaded, db):
        try:
            done = promotion.promote(
                db, loaded, loaded.flow(flow), version, actor=ACTOR, reason=reason, override=override
            )
        except PromotionRefused:
            audit.seal(db)
            raise
    how = "overriding the gate's refusal" if done.overridden else "the gate passed"
    out.print(
        f"{flow} {done.version.version} is the champion ({how}); {done.rescored} open review cases re-scored. "
        "Running servers switch to it within seconds.",
        highlight=False,
        soft_wrap=True,
    )


@models_app.command("rollback")
def models_rollback(
    flow: FlowArgument,
    reason: ReasonOption,
    version: Annotated[
        str | None,
        typer.Argument(
            help="The shadow or canary to end, or the version to serve again (default: the shadow or canary if "
            "there is one, else the champion the current one replaced)."
        ),
    ] = None,
    project: ProjectOption = None,
) -> None:
    """End the flow's shadow or canary (a candidate again), or serve the previous champion again (or the version
    named), with no gate: it served before. Audited."""
    from signoff.learning import canary

    with sealed(project) as (loaded, db):
        done = canary.rollback(db, loaded, loaded.flow(flow), version, actor=ACTOR, reason=reason)
    if done.previous.status.value == "candidate":
        said = f"{flow} {done.previous.version} is a candidate again; {done.version.version} routes every case."
    else:
        said = (
            f"{flow} {done.version.version} is the champion again (rolled back from {done.previous.version}); "
            f"{done.rescored} open review cases re-scored."
        )
    out.print(said, highlight=False, soft_wrap=True)


@models_app.command("shadow")
def models_shadow(
    flow: FlowArgument, version: VersionArgument, reason: ReasonOption, project: ProjectOption = None
) -> None:
    """Put a version in shadow: it scores every new case beside the champion, with no effect on routes or
    decisions, so that it can be weighed on live traffic (``signoff models watch``). Audited."""
    from signoff.learning import canary

    with sealed(project) as (loaded, db):
        found = canary.shadow(db, loaded, loaded.flow(flow), version, actor=ACTOR, reason=reason)
    said = f"{flow} {found.version} is in shadow; running servers follow within seconds."
    out.print(said, highlight=False, soft_wrap=True)


@models_app.command("canary")
def models_canary(
    flow: FlowArgument,
    version: VersionArgument,
    reason: ReasonOption,
    share: Annotated[
        float | None, typer.Option(help="The share of cases it routes (default: learning.canary.share).")
    ] = None,
    sticky_by: Annotated[
        str | None,
        typer.Option(help="A field whose value keeps cases together, such as the entity (default: by case)."),
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Make a version the canary: it routes a sticky share of the cases through the flow's policy, its certified
    rules calibrated on its own scores, and the champion scores those cases beside it. It ends by itself when its
    error on the labelled cases of its share is significantly worse than the champion's. Audited."""
    from signoff.learning import canary

    with sealed(project) as (loaded, db):
        found = canary.canary(
            db, loaded, loaded.flow(flow), version, actor=ACTOR, reason=reason, share=share, sticky_by=sticky_by
        )
    sticky = f"kept together by {found.canary_sticky_by}" if found.canary_sticky_by else "by case"
    out.print(
        f"{flow} {found.version} is the canary for {found.canary_share:.0%} of the cases ({sticky}); running servers "
        "follow within seconds.",
        highlight=False,
        soft_wrap=True,
    )


@models_app.command("watch")
def models_watch(flow: FlowArgument, as_json: JsonOption = False, project: ProjectOption = None) -> None:
    """Weigh the flow's shadow or canary against the champion on the labelled cases so far, and end a canary that
    is significantly worse (a server does it every few seconds). Audited when it ends one."""
    from signoff.learning import canary

    with sealed(project) as (loaded, db):
        found = canary.watch(db, loaded.flow(flow), actor=ACTOR)
    if as_json:
        out.print_json(data=None if found is None else found.summary())
        return
    if found is None:
        out.print(f"Flow {flow!r} has no version in shadow or canary.")
        return
    c = found.challenger
    share = f" for {c.canary_share:.0%} of the cases" if c.status.value == "canary" and c.canary_share else ""
    said = f"[bold]{flow} {c.version}[/]: {c.status.value}{share}, beside the champion {found.champion}"
    out.print(said, highlight=False, soft_wrap=True)
    out.print(f"Cases compared: {found.cases}; labelled: {found.labelled}", highlight=False)
    out.print(found.statement, highlight=False, soft_wrap=True)
    if found.worse:
        out.print(f"{c.version} was rolled back: it is a candidate again.", highlight=False)


@models_app.command("training-set")
def models_training_set(
    flow: FlowArgument,
    output: Annotated[Path, typer.Option("--output", "-o", help="The Parquet file to write.")],
    set_id: Annotated[
        int | None, typer.Option("--set", min=1, help="The training set's id (default: the flow's latest).")
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Write a recorded training set as Parquet: one row per example (case id, train or validation, label, its
    source and weight, the inclusion probability, when it was labelled, the case's time) and the case's fields; its
    lineage (id, SHA-256, window, policy version, held-out share, who built it, the model versions trained on it)
    in the file's metadata under ``signoff.lineage``. Changes nothing."""
    import pyarrow.parquet as pq

    from signoff.learning import datasets

    with opened(project) as (loaded, db):
        table = datasets.arrow_table(db, loaded.flow(flow), set_id)
    lineage = json.loads(table.schema.metadata[datasets.LINEAGE_KEY])
    partial = output.with_name(output.name + ".partial")
    try:
        pq.write_table(table, partial)
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    out.print(
        f"Wrote training set {lineage['training_set_id']} of flow {flow} to {output}: {lineage['train']} train and "
        f"{lineage['validation']} validation examples, sha256 {lineage['sha256']}.",
        highlight=False,
        soft_wrap=True,
    )
