"""``signoff``: set up a project, run the server, ingest files, manage users, verify the audit trail.

This module builds the Typer app, holds the commands that set a project up and run it (init, db, ingest, serve,
demo), and adds the command groups of the modules beside it."""

from __future__ import annotations

import ipaddress
import os
import shutil
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer import _click as click  # Typer's own click, the one its groups are built on
from typer.core import TyperGroup

from signoff.cli import labels, metrics, plan, retrain, review
from signoff.cli.common import (
    ACTOR,
    CasesFlowArgument,
    PortOption,
    ProjectOption,
    database,
    errors,
    fail,
    load_project,
    out,
    progress,
    steps,
)
from signoff.cli.consume import consume_command
from signoff.domain import Role

if TYPE_CHECKING:
    from signoff.config import Project

# The command groups, in the order `signoff --help` lists them, with their help. Group NAME is `NAME_app` in the
# module `signoff.cli.NAME` (gold's lives with the review commands). A group is imported and built only when a
# command names it, so that `signoff --help` and every other command do not pay for the ~50 commands' parameters
# (about a third of its CPU).
GROUPS = {
    "users": "Users, roles, API tokens and web passwords.",
    "audit": "The tamper-evident audit trail.",
    "policy": "Routing policies: check, replay on labelled data.",
    "models": "Model versions: list, show lineage, evaluate, shadow, canary, promote, roll back; training sets.",
    "gold": "Gold cases: known answers that measure reviewers.",
    "labels": "Label validation: find label conflicts and resolve them.",
    "webhooks": "Webhooks: the delivery log, replays, signing secrets.",
    "labelstudio": "Label Studio: export review tasks with the model's predictions, import annotations as reviews.",
}
MODULE_OF = {"gold": "review"}  # the groups whose module is not named after them


class LazyGroups(TyperGroup):
    """``signoff`` itself: its own commands, and the GROUPS, each listed by its help until a command line (or
    completion) names it; then its module is imported and the group built (``resolve_command``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.commands, *(name for name in GROUPS if name not in self.commands)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in GROUPS:
            return self.commands.get(cmd_name)
        return TyperGroup(name=cmd_name, help=GROUPS[cmd_name])  # what the list of commands shows

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] in GROUPS:
            self.load(args[0])
        return super().resolve_command(ctx, args)

    def load(self, name: str) -> click.Command:
        """The group ``name``, imported and built the first time."""
        if name not in self.commands:
            module, attribute = f"signoff.cli.{MODULE_OF.get(name, name)}", f"{name}_app"
            # __import__, not importlib.import_module: `python -X importtime` sees only the former (the startup test)
            group = typer.main.get_group(getattr(__import__(module, fromlist=[attribute]), attribute))
            group.name, group.help = name, GROUPS[name]
            self.commands[name] = group
        return self.commands[name]


app = typer.Typer(
    cls=LazyGroups, help="Signoff: human-in-the-loop decisions for machine-learning models.", no_args_is_help=True
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)


def init(folder: Annotated[Path, typer.Argument(help="Where to write the example project.")]) -> None:
    """Write a working example project: a flow file, a trained model and a file of cases to ingest."""
    if (folder / "signoff.yaml").exists():
        fail(f"{folder / 'signoff.yaml'} already exists; choose another folder", 2)
    step = steps()
    step("Loading the training libraries")
    from signoff.sim.example import write_example

    with errors():
        example = write_example(folder, step=step)
    out.print(f"Wrote [bold]{example.project.path}[/] with flow [bold]credit-approval[/].")
    out.print("Next:")
    out.print(f"  cd {folder}")
    out.print("  signoff db upgrade")
    out.print("  signoff ingest credit-approval credit-cases.csv")
    out.print("  signoff users add alice --role reviewer")
    out.print("  signoff serve")


@db_app.command("upgrade")
def db_upgrade(project: ProjectOption = None) -> None:
    """Create the schema or bring it up to date (safe to repeat)."""
    from signoff.database import revision, upgrade

    with errors():
        db = database(load_project(project), ready=False)
        upgrade(db)
        out.print(f"Database {db.safe_url} is at revision {revision(db)}.")


def ingest_command(
    flow: CasesFlowArgument,
    path: Annotated[
        Path, typer.Argument(help="A .csv, .parquet or .jsonl file of cases.", exists=True, dir_okay=False)
    ],
    chunk_size: Annotated[int, typer.Option(min=1, max=100_000, help="Cases per transaction.")] = 5000,
    project: ProjectOption = None,
) -> None:
    """Score, route and record every case in a file. The whole file is validated before anything is written."""
    from signoff import audit, intake
    from signoff.inputs import files
    from signoff.intake import ingest

    with errors():
        loaded = load_project(project)
        runtime = intake.prepare(db := database(loaded), loaded, ACTOR)[flow] if flow in loaded.flows else None
        if runtime is None:
            fail(f"flow {flow!r} is not in {loaded.path}; flows: {', '.join(loaded.flows)}", 2)
        total = files.count_rows(path)
        with progress() as bar:
            checking = bar.add_task("Validating", total=total)
            ingest.validate_file(runtime.flow, path, lambda n: bar.advance(checking, n))
            writing = bar.add_task("Ingesting ", total=total)
            report = ingest.ingest_file(db, runtime, path, ACTOR, lambda n: bar.advance(writing, n), chunk_size)
        audit.seal(db)
    out.print(
        f"Read {report.read} cases: {report.created} new ({report.to_review} sent to review), "
        f"{report.replayed} already recorded."
    )


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: PortOption = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes; more than one needs PostgreSQL.")] = 1,
    forwarded_allow_ips: Annotated[
        str,
        typer.Option(
            help="Addresses of the reverse proxies whose X-Forwarded-For/-Proto headers are believed: comma-separated "
            "IPs or networks, or '*' for any. Behind a proxy that ends TLS, name it, so that the web session cookie "
            "is marked Secure; the header from anyone else is ignored."
        ),
    ] = "127.0.0.1",
    worker_healthcheck_timeout: Annotated[
        int,
        typer.Option(
            min=1,
            help="With --workers, seconds a server process may take to answer the supervisor's health check before "
            "it is restarted (uvicorn's 5 s restarted busy processes on a loaded 2-core machine).",
        ),
    ] = 30,
    project: ProjectOption = None,
) -> None:
    """Run the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from signoff import intake

    trusted = _proxies(forwarded_allow_ips)
    with errors():
        loaded = load_project(project)
        db = database(loaded)
        if workers > 1 and db.dialect == "sqlite":
            # Each process would hold its own connections to one file whose writes take turns on one lock: the
            # in-process writer queue and WAL checkpointer that keep one server fast cannot span processes.
            fail(
                f"--workers {workers} needs PostgreSQL: {db.safe_url} is SQLite, which takes one writer at a time; "
                "serve one process (--workers 1) or set SIGNOFF_DATABASE_URL to a postgresql:// URL",
                2,
            )
        db.dispose()
        for flow in loaded.flows.values():  # fail here, with one clear line, rather than inside the server
            intake.load(loaded, flow)
    os.environ["SIGNOFF_PROJECT"] = str(loaded.path)
    out.print(f"Serving {loaded.path} on http://{host}:{port} (API docs: http://{host}:{port}/docs)")
    uvicorn.run(
        "signoff.api.app:served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        proxy_headers=True,
        forwarded_allow_ips=trusted,
        timeout_worker_healthcheck=worker_healthcheck_timeout,
    )


def _proxies(value: str) -> list[str]:
    """The --forwarded-allow-ips list, each entry an address or network (or '*'), or a usage error naming the bad
    one: uvicorn would take a typo as a name that never matches, and every https request would look like http."""
    entries = [entry.strip() for entry in value.split(",") if entry.strip()]
    for entry in entries:
        if entry != "*":
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                fail(f"--forwarded-allow-ips: {entry!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/8)", 2)
    if not entries:
        fail("--forwarded-allow-ips needs at least one address, or '*'", 2)
    return entries


def demo(
    folder: Annotated[Path, typer.Option("--dir", help="Where the demo lives (wiped and rebuilt).")] = Path(
        "signoff-demo"
    ),
    cases: Annotated[int, typer.Option(min=100, max=200_000, help="Credit applications to ingest.")] = 3000,
    port: PortOption = 8000,
    host: str = "127.0.0.1",
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="Start the server at the end.")] = True,
) -> None:
    """Build a demo on SQLite (credit, breast-cancer triage, digits), ingest cases, and serve it with the web UI."""
    marker = folder / ".signoff-demo"
    if folder.exists() and any(folder.iterdir()):
        if not marker.exists():
            fail(f"{folder} exists and is not a Signoff demo folder; choose another with --dir")
        shutil.rmtree(folder)
    step = steps()
    step("Loading the training libraries")
    from signoff import audit, intake, users
    from signoff.database import upgrade
    from signoff.inputs import files
    from signoff.intake import ingest
    from signoff.review.queues import totals
    from signoff.sim.example import write_example

    with errors():
        example = write_example(folder, cases=cases, with_cancer=True, step=step)
        marker.write_text("built by `signoff demo`; safe to delete\n", encoding="utf-8")
        step("Creating the database and the demo users")
        db = database(example.project, ready=False)
        upgrade(db)
        tokens = {name: users.create_user(db, name, role, "demo")[1] for name, role in _DEMO_USERS}
        passwords = {name: users.new_password() for name, role in _DEMO_USERS if role is not Role.INTAKE}
        for name, password in passwords.items():
            users.set_password(db, name, password, "demo")
        credentials = _write_credentials(example.project.path.parent / CREDENTIALS, tokens, passwords)
        step("Loading the models")
        runtimes = intake.prepare(db, example.project, "demo")
        for flow, path in example.case_files.items():
            total = files.count_rows(path)
            with progress() as bar:
                task = bar.add_task(f"Ingesting {flow}", total=total)
                ingest.ingest_file(db, runtimes[flow], path, "demo", partial(bar.advance, task))
        step("Sealing the audit trail")
        audit.seal(db)
    _demo_summary(example.project, totals(db), tokens, passwords, credentials, host, port)
    if serve_after:
        serve(host=host, port=port, workers=1, project=example.project.path)


_DEMO_USERS = (
    ("admin", Role.ADMIN),
    ("alice", Role.REVIEWER),
    ("bob", Role.REVIEWER),
    ("lena", Role.LEAD),
    ("owen", Role.OWNER),
    ("audra", Role.AUDITOR),
    ("intake-service", Role.INTAKE),
)
CREDENTIALS = "demo-credentials.txt"  # beside signoff.db: only the hashes are stored, so this is the one copy


def _credential_lines(tokens: dict[str, str], passwords: dict[str, str]) -> list[str]:
    """One line per demo user, columns aligned: printed as plain lines, never as a table, which a narrow terminal
    or a pipe would cut to ``so_hpBK…``."""
    rows = [("user", "role", "password (web UI)", "API token")]
    rows += [(name, role.value, passwords.get(name, "-"), tokens[name]) for name, role in _DEMO_USERS]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip() for row in rows]


def _write_credentials(path: Path, tokens: dict[str, str], passwords: dict[str, str]) -> Path:
    """Write the demo's passwords and tokens to ``path``, readable by its owner alone (mode 0600 from creation)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # the mode given to open is narrowed by the umask, never widened: set it outright
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write("\n".join(_credential_lines(tokens, passwords)) + "\n")
    return path


def _demo_summary(
    project: Project,
    recorded: tuple[int, int],
    tokens: dict[str, str],
    passwords: dict[str, str],
    credentials: Path,
    host: str,
    port: int,
) -> None:
    n_cases, n_tasks = recorded

    def plain(line: str) -> None:  # never wrapped, cut or styled: a token must survive a copy and paste
        out.print(line, highlight=False, soft_wrap=True, markup=False)

    out.print(f"\n[bold green]Signoff demo ready[/] in {project.path.parent}")
    out.print(f"  {n_cases} cases recorded, {n_tasks} tasks waiting for review")
    out.print(f"  Web UI:   http://{host}:{port}/  (log in with a name and password below)")
    out.print(f"  API:      http://{host}:{port}/api/v1")
    out.print(f"  API docs: http://{host}:{port}/docs")
    out.print()
    for line in _credential_lines(tokens, passwords):
        plain(f"  {line}")
    out.print()
    plain(f"These passwords and tokens are also in {credentials} (readable by you alone).")
    plain("Only their hashes are stored: `signoff users token NAME` issues a new token.")
    claim = f"curl -s -X POST -H 'Authorization: Bearer {tokens['alice']}' http://{host}:{port}/api/v1/tasks/claim"
    plain(f"Try:  {claim}")


# In the order `signoff --help` lists them.
app.command()(init)
app.command()(review.assign)
app.command()(review.reviewers)
app.command("ingest")(ingest_command)
app.command("consume")(consume_command)
app.command()(serve)
app.command()(review.queues)
app.command()(review.escalate)
app.command()(demo)
app.command("metrics")(metrics.metrics_command)
app.command("report")(metrics.report_command)
app.command("plan")(plan.plan_command)
app.command("simulate")(plan.simulate_command)
app.command("retrain")(retrain.retrain_command)
app.command()(retrain.worker)
app.command("outcomes")(labels.outcomes_command)
app.add_typer(db_app, name="db")  # then GROUPS
