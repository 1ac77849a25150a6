"""``signoff models``: a flow's model versions, one version's lineage, and promotion by hand."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any

import typer
from rich.table import Table

from signoff.cli.common import ACTOR, ProjectOption, database, errors, out, policed, sealed
from signoff.config import load_project
from signoff.learning import registry

models_app = typer.Typer(help="Model versions: list, show lineage, promote.", no_args_is_help=True)

FlowArgument = Annotated[str, typer.Argument(help="The flow.")]
VersionArgument = Annotated[str, typer.Argument(help="The model version (as `signoff models list` names it).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _plain(version: registry.ModelVersion) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(version), default=str))  # type: ignore[no-any-return]  # JSON


def _metrics(metrics: dict[str, float] | Any) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items())) or "-"


@models_app.command("list")
def models_list(flow: FlowArgument, as_json: JsonOption = False, project: ProjectOption = None) -> None:
    """Every version of a flow, newest first: status, training set, held-out metrics, who changed its status."""
    with errors():
        loaded = load_project(project)
        found = registry.versions(database(loaded), loaded.flow(flow))
    if as_json:
        out.print_json(data=[_plain(v) for v in found])
        return
    if not found:
        out.print(f"Flow {flow!r} has no model version yet: every case goes to review (cold start).")
        return
    table = Table("version", "status", "kind", "training set", "held-out metrics", "status changed")
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
    with errors():
        loaded = load_project(project)
        found = registry.version(database(loaded), loaded.flow(flow), version)
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
    table = Table("case", "label", "source", "part")
    for e in lineage.examples:
        table.add_row(str(e.case_id), e.label, e.source, e.part)
    out.print(table)


@models_app.command("promote")
def models_promote(
    flow: FlowArgument,
    version: VersionArgument,
    reason: Annotated[str, typer.Option(callback=policed(name=False), help="Why (kept in the audit trail).")],
    project: ProjectOption = None,
) -> None:
    """Make a version the champion by hand (the previous one is retired), audited; the open review cases are
    re-scored by it. No gate on evidence runs: the promotion is yours."""
    with sealed(project) as (loaded, db):
        promoted = registry.promote(db, loaded, loaded.flow(flow), version, actor=ACTOR, reason=reason)
    out.print(
        f"{flow} {promoted.version.version} is the champion (promoted by hand; no gate ran); "
        f"{promoted.rescored} open review cases re-scored. Running servers switch to it within seconds.",
        highlight=False,
        soft_wrap=True,
    )
    if promoted.warning is not None:
        out.print(f"  warning: {promoted.warning}", highlight=False, soft_wrap=True)
