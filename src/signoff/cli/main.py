"""``signoff``: set up a project, run the server, ingest files, manage users, verify the audit trail."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from signoff import audit, intake, text, users
from signoff.config import Project, load_project
from signoff.domain import MAX_ID, Role
from signoff.errors import ConfigError, InvalidInput, SignoffError
from signoff.intake import files, ingest
from signoff.store import migrate
from signoff.store.database import Database

app = typer.Typer(help="Signoff: human-in-the-loop decisions for machine-learning models.", no_args_is_help=True)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
users_app = typer.Typer(help="Users, roles, API tokens and web passwords.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
policy_app = typer.Typer(help="Routing policies: check, replay on labelled data.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
gold_app = typer.Typer(help="Gold cases: known answers that measure reviewers.", no_args_is_help=True)
app.add_typer(gold_app, name="gold")

out = Console()
err = Console(stderr=True)

ProjectOption = Annotated[
    Path | None,
    typer.Option("--project", "-p", help="The project file (default: $SIGNOFF_PROJECT or ./signoff.yaml)."),
]
FlowsOption = Annotated[
    list[str] | None,
    typer.Option("--flow", help="A flow the role holds on (repeat for several; leave out for every flow)."),
]
ACTOR = "cli"


def _policed(name: bool) -> Any:
    """A Typer callback that refuses (usage error, exit 2) an argument breaking the text policy (``signoff.text``):
    a name, or free text; a list is checked item by item."""

    def check(value: Any) -> Any:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and (reason := text.problem(item, name=name)) is not None:
                raise typer.BadParameter(reason)
        return value

    return check


NameArgument = Annotated[str, typer.Argument(callback=_policed(name=True), help="A user name.")]


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    """Turn Signoff's errors into a message and an exit code instead of a traceback."""
    try:
        yield
    except (ConfigError, InvalidInput) as error:
        _fail(str(error).replace("[", "\\["), 2)
    except SignoffError as error:
        _fail(str(error).replace("[", "\\["))


def _project(path: Path | None) -> Project:
    return load_project(path)


def _database(project: Project, *, ready: bool = True) -> Database:
    db = Database(project.database_url)
    if ready:
        migrate.require_current(db)
    return db


@app.command()
def init(folder: Annotated[Path, typer.Argument(help="Where to write the example project.")]) -> None:
    """Write a working example project: a flow file, a trained model and a file of cases to ingest."""
    from signoff.sim.example import write_example

    if (folder / "signoff.yaml").exists():
        _fail(f"{folder / 'signoff.yaml'} already exists; choose another folder", 2)
    with _errors(), out.status("Training the example model..."):
        example = write_example(folder)
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
    with _errors():
        db = _database(_project(project), ready=False)
        migrate.upgrade(db)
        out.print(f"Database {db.safe_url} is at revision {migrate.current(db)}.")


@users_app.command("add")
def users_add(
    name: NameArgument,
    role: Annotated[Role, typer.Option(help="What the user may do.")],
    flow: FlowsOption = None,
    project: ProjectOption = None,
) -> None:
    """Create a user and print their first API token (shown once; only its hash is stored)."""
    with _errors():
        db = _database(_project(project))
        user, token = users.create_user(db, name, role, ACTOR, flow or [])
    out.print(f"Created [bold]{user.name}[/] ({user.describe()}). API token (keep it secret, it is shown once):")
    print(token)  # before sealing: the token is committed, and whatever happens next must not lose it
    with _errors():
        audit.seal(db)


@users_app.command("grant")
def users_grant(
    name: str,
    role: Annotated[Role, typer.Argument(help="The role to give.")],
    flow: FlowsOption = None,
    project: ProjectOption = None,
) -> None:
    """Give a user a role on flows (on every flow without --flow). Audited."""
    with _errors():
        db = _database(_project(project))
        user = users.grant(db, name, role, flow or [], ACTOR)
        audit.seal(db)
    out.print(f"[bold]{user.name}[/]: {user.describe()}")


@users_app.command("revoke")
def users_revoke(
    name: str,
    role: Annotated[Role, typer.Argument(help="The role to take away.")],
    flow: FlowsOption = None,
    project: ProjectOption = None,
) -> None:
    """Take a role on flows away from a user (without --flow: the grant on every flow). Their leases and
    assignments on flows they may no longer review go back to the queue. Audited."""
    with _errors():
        db = _database(_project(project))
        user = users.revoke(db, name, role, flow or [], ACTOR)
        audit.seal(db)
    out.print(f"[bold]{user.name}[/]: {user.describe()}")


@users_app.command("token")
def users_token(
    name: NameArgument,
    revoke_others: Annotated[bool, typer.Option(help="Revoke the user's earlier tokens.")] = False,
    project: ProjectOption = None,
) -> None:
    """Issue a new API token for a user."""
    with _errors():
        db = _database(_project(project))
        token = users.issue_token(db, name, ACTOR, revoke_others=revoke_others)
    print(token)  # before sealing, as in users add
    with _errors():
        audit.seal(db)


@users_app.command("password")
def users_password(
    name: NameArgument,
    generate: Annotated[bool, typer.Option("--generate", help="Set a random password and print it.")] = False,
    project: ProjectOption = None,
) -> None:
    """Set a user's password for the web UI (asked twice, or random with --generate); ends their web sessions."""
    password = (
        users.new_password()
        if generate
        else typer.prompt(f"New password for {name}", hide_input=True, confirmation_prompt=True)
    )
    with _errors():
        db = _database(_project(project))
        users.set_password(db, name, password, ACTOR)
        audit.seal(db)
    out.print(f"Password set for [bold]{name}[/].")
    if generate:
        print(password)


@users_app.command("list")
def users_list(project: ProjectOption = None) -> None:
    """List users, the roles they hold flow by flow ("*": every flow), and who is deactivated or locked out."""
    with _errors():
        db = _database(_project(project))
        found, statuses = users.list_users(db), users.statuses(db)
    table = Table("id", "name", "roles", "status")
    for user in found:
        table.add_row(str(user.id), user.name, user.describe(), statuses.get(user.name, "active"))
    out.print(table)


@users_app.command("unlock")
def users_unlock(name: str, project: ProjectOption = None) -> None:
    """Lift a user's login lockout or backoff and forget their failed logins."""
    with _errors():
        db = _database(_project(project))
        forgotten = users.unlock(db, name, ACTOR)
        audit.seal(db)
    out.print(f"{name} may log in again ({forgotten} failed logins forgotten).")


@users_app.command("deactivate")
def users_deactivate(name: str, project: ProjectOption = None) -> None:
    """Stop a user: their API tokens and web sessions stop working at once."""
    with _errors():
        db = _database(_project(project))
        changed = users.set_active(db, name, False, ACTOR)
        audit.seal(db)
    out.print(f"{name} is deactivated." if changed else f"{name} was already deactivated.")


@users_app.command("activate")
def users_activate(name: str, project: ProjectOption = None) -> None:
    """Let a deactivated user work again, with the API tokens they had."""
    with _errors():
        db = _database(_project(project))
        changed = users.set_active(db, name, True, ACTOR)
        audit.seal(db)
    out.print(f"{name} is active." if changed else f"{name} was already active.")


@users_app.command("skills")
def users_skills(
    name: NameArgument,
    skills: Annotated[
        list[str] | None, typer.Argument(callback=_policed(name=True), help="The skills; none clears them.")
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Set a reviewer's skills (queues may require some)."""
    from signoff.review import leads

    with _errors():
        db = _database(_project(project))
        kept = leads.set_skills(db, users.operator(ACTOR), name, skills or [])
        audit.seal(db)
    out.print(f"{name}: {', '.join(kept) or 'no skills'}")


@users_app.command("conflict")
def users_conflict(
    name: NameArgument,
    case_id: Annotated[int, typer.Argument(min=1, max=MAX_ID, help="The case they must never review.")],
    reason: Annotated[str, typer.Option(callback=_policed(name=False), help="Why (kept in the audit trail).")],
    project: ProjectOption = None,
) -> None:
    """Mark a reviewer conflicted on a case: its tasks are never offered to them."""
    from signoff.review import leads

    with _errors():
        db = _database(_project(project))
        leads.mark_conflict(db, users.operator(ACTOR), name, case_id, reason)
        audit.seal(db)
    out.print(f"{name} will not be offered case {case_id}.")


@users_app.command("unpause")
def users_unpause(
    name: NameArgument,
    flow: Annotated[str, typer.Argument(callback=_policed(name=True), help="The flow.")],
    queue: Annotated[str, typer.Argument(callback=_policed(name=True), help="The queue.")],
    project: ProjectOption = None,
) -> None:
    """Lift the pause that gold tasks put on a reviewer for a queue."""
    from signoff.review import leads

    with _errors():
        db = _database(_project(project))
        leads.lift_pause(db, users.operator(ACTOR), name, flow, queue)
        audit.seal(db)
    out.print(f"{name} may work {flow}/{queue} again.")


@app.command()
def assign(
    task_id: Annotated[int, typer.Argument(min=1, max=MAX_ID, help="An open task.")],
    reviewer: Annotated[
        str | None,
        typer.Argument(callback=_policed(name=True), help="Who alone may claim it; leave out to free it."),
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Reserve a task for a named reviewer, or free it again."""
    from signoff.review import leads

    with _errors():
        loaded = _project(project)
        db = _database(loaded)
        leads.assign(db, loaded, users.operator(ACTOR), task_id, reviewer)
        audit.seal(db)
    out.print(f"task {task_id}: {'assigned to ' + reviewer if reviewer else 'open to every reviewer'}")


@app.command()
def reviewers(
    flow: Annotated[str | None, typer.Option(help="Only this flow's gold answers and pauses.")] = None,
    project: ProjectOption = None,
) -> None:
    """Each reviewer's load, gold accuracy (with its 95% interval) and pauses."""
    from signoff.review.queues import reviewers as floor

    with _errors():
        found = floor(_database(_project(project)), flows=None if flow is None else {flow})
    load = Table("reviewer", "leases held", "reviews last hour", title=f"Reviewers at {found.at:%H:%M:%S} UTC")
    for row in found.reviewers:
        load.add_row(row["name"], str(row["leases_held"]), str(row["reviews_last_hour"]))
    gold = Table("reviewer", "flow", "queue", "gold answers", "accuracy", "95% interval", title="Gold tasks")
    for row in found.gold:
        interval = f"{row['accuracy_low']:.0%} - {row['accuracy_high']:.0%}"
        gold.add_row(
            row["reviewer"], row["flow"], row["queue"], str(row["answered"]), f"{row['accuracy']:.0%}", interval
        )
    shown = Table("flow", "queue", "cases", "Krippendorff's alpha", "Fleiss' kappa", title="Agreement")
    for row in found.agreement.queues:
        shown.add_row(
            row["flow"],
            row["queue"],
            str(row["cases"]),
            _figure(row["krippendorff_alpha"]),
            _figure(row["fleiss_kappa"]),
        )
    for pair in found.agreement.pairs:
        shown.add_row(
            "", " & ".join(pair["reviewers"]), str(pair["cases"]), f"Cohen's {_figure(pair['cohen_kappa'])}", ""
        )
    for table, none in (
        (load, "No reviewer holds a lease or reviewed in the last hour."),
        (gold, "No gold answers yet."),
        (shown, "No case has had several independent reviews yet."),
    ):
        out.print(table if table.row_count else f"[dim]{none}[/]")
    for pause in found.pauses:
        out.print(f"[bold]paused[/] {pause['reviewer']} on {pause['flow']}/{pause['queue']}: {pause['reason']}")


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


@gold_app.command("add")
def gold_add(
    flow: str,
    path: Annotated[Path, typer.Argument(help="CSV, Parquet or JSONL: the flow's fields plus the known answer.")],
    label_column: Annotated[str, typer.Option(help="The column holding the known answer.")] = "label",
    project: ProjectOption = None,
) -> None:
    """Add gold cases (known answers) that gold-enabled queues mix into reviewers' work. All or nothing."""
    from signoff.intake.labelled import read_labelled

    with _errors():
        loaded = _project(project)
        db = _database(loaded)
        runtime = intake.load(loaded, loaded.flow(flow), db, ACTOR)
        labelled = read_labelled(runtime.flow, path, label_column)
        added = intake.add_gold(db, runtime, labelled.cases, labelled.labels, ACTOR)
        audit.seal(db)
    out.print(f"Added {added} gold cases to flow {flow}.")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


@app.command("ingest")
def ingest_command(
    flow: Annotated[str, typer.Argument(help="The flow the cases belong to.")],
    path: Annotated[
        Path, typer.Argument(help="A .csv, .parquet or .jsonl file of cases.", exists=True, dir_okay=False)
    ],
    chunk_size: Annotated[int, typer.Option(min=1, max=100_000, help="Cases per transaction.")] = 5000,
    project: ProjectOption = None,
) -> None:
    """Score, route and record every case in a file. The whole file is validated before anything is written."""
    with _errors():
        loaded = _project(project)
        runtime = intake.prepare(db := _database(loaded), loaded, ACTOR)[flow] if flow in loaded.flows else None
        if runtime is None:
            _fail(f"flow {flow!r} is not in {loaded.path}; flows: {', '.join(loaded.flows)}", 2)
        total = files.count_rows(path)
        with _progress() as bar:
            checking = bar.add_task("Validating", total=total)
            ingest.validate_file(runtime.flow, path, lambda n: bar.advance(checking, n))
            writing = bar.add_task("Ingesting ", total=total)
            report = ingest.ingest_file(db, runtime, path, ACTOR, lambda n: bar.advance(writing, n), chunk_size)
        audit.seal(db)
    out.print(
        f"Read {report.read} cases: {report.created} new ({report.to_review} sent to review), "
        f"{report.replayed} already recorded."
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes (use PostgreSQL for more than one).")] = 1,
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

    trusted = _proxies(forwarded_allow_ips)
    with _errors():
        loaded = _project(project)
        _database(loaded)
        for flow in loaded.flows.values():  # fail here, with one clear line, rather than inside the server
            intake.load(loaded, flow)
    os.environ["SIGNOFF_PROJECT"] = str(loaded.path)
    out.print(f"Serving {loaded.path} on http://{host}:{port} (API docs: http://{host}:{port}/docs)")
    uvicorn.run(
        "signoff.api.app:create_app",
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
                _fail(
                    f"--forwarded-allow-ips: {entry!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/8)", 2
                )
    if not entries:
        _fail("--forwarded-allow-ips needs at least one address, or '*'", 2)
    return entries


@app.command()
def queues(
    flow: Annotated[str | None, typer.Option(help="Only this flow's queues.")] = None,
    risk_window: Annotated[float, typer.Option(min=1, help="Seconds before the due time that count as at risk.")] = 900,
    project: ProjectOption = None,
) -> None:
    """Queue depth, oldest task, SLA risk, throughput, and each reviewer's load."""
    from signoff.review.queues import overview

    with _errors():
        found = overview(_database(_project(project)), flows=None if flow is None else {flow}, risk_window=risk_window)
    table = Table(
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
        age = row["oldest_age_seconds"]
        table.add_row(
            row["flow"],
            row["queue"],
            str(row["open"]),
            str(row["leased"]),
            "-" if age is None else f"{age / 60:.0f} min ago",
            str(row["at_risk"]),
            str(row["overdue"]),
            str(row["done_last_hour"]),
        )
    out.print(table)
    if found.reviewers:
        people = Table("reviewer", "leases held", "reviews last hour", title="Reviewers")
        for row in found.reviewers:
            people.add_row(row["name"], str(row["leases_held"]), str(row["reviews_last_hour"]))
        out.print(people)


@app.command()
def escalate(project: ProjectOption = None) -> None:
    """Escalate due tasks now (a running server does this every 5 seconds)."""
    from signoff.review.escalation import escalate as sweep

    with _errors():
        loaded = _project(project)
        db = _database(loaded)
        done = sweep(db, loaded)
        audit.seal(db)
    for item in done:
        target = f"to {item.to_queue}" if item.to_queue else f"chain exhausted: {item.action}"
        out.print(f"task {item.task_id} ({item.flow}/{item.from_queue}): {target}")
    out.print(f"Escalated {len(done)} tasks.")


@policy_app.command("check")
def policy_check(
    flow: Annotated[str | None, typer.Argument(help="The flow to check (default: every flow).")] = None,
    project: ProjectOption = None,
) -> None:
    """Validate flows: their fields, model, rules and business-rule expressions, without touching the database."""
    with _errors():
        loaded = _project(project)
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

    from signoff.intake.labelled import read_labelled
    from signoff.learning import evaluate as evaluation

    with _errors():
        loaded = _project(project)
        runtime = intake.load(loaded, loaded.flow(flow))  # a replay records nothing
        db = _optional_database(loaded)
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


def _optional_database(project: Project) -> Database | None:
    """The store when it is ready (for audit-sample calibration), or None for a replay without one."""
    try:
        return _database(project)
    except SignoffError:
        return None


def _print_evaluation(flow: str, result: Any) -> None:
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


@audit_app.command("verify")
def audit_verify(
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option("--checkpoint", "-c", help="A signed checkpoint file to hold the chain to (repeatable)."),
    ] = None,
    public_key: Annotated[
        Path | None, typer.Option("--public-key", help="The public key the checkpoints were signed with.")
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Worker processes that check spans of the chain side by side "
            f"(default: one per CPU from {audit.PARALLEL_FROM:,} seals, else 1).",
        ),
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Recompute the hash chain; name the first event that was altered, deleted or reordered. With signed
    checkpoints, also show a chain that was rewritten and re-hashed since they were made."""
    if checkpoint and public_key is None:
        _fail("--checkpoint needs --public-key: the key the checkpoints were signed with, kept outside the database", 2)
    with _errors():
        db = _database(_project(project))
        found = []
        if checkpoint:
            from signoff.audit import checkpoints

            assert public_key is not None
            key = checkpoints.load_public_key(public_key)
            documents = {path: checkpoints.read(path) for path in checkpoint}  # every file read before any check
            found = [(path, checkpoints.check(db, document, key)) for path, document in documents.items()]
        audit.seal(db, full=True)  # what waits only for want of a running sealer is not a stall
        report = audit.verify(db, jobs=jobs)
    broken = [f"checkpoint {path} (seal {c.seq}, signed {c.made_at}): {c.why}" for path, c in found if not c.ok]
    if report.stall is not None:
        broken.insert(0, str(report.stall))
    if report.breach is not None:
        broken.insert(0, f"audit chain broken after {report.checked} good events: {report.breach}")
    if broken:
        _fail("\n".join(broken).replace("[", "\\["))
    note = f"; {report.unsealed} recent events not sealed yet" if report.unsealed else ""
    held = (
        f"; it holds {len(found)} signed checkpoint(s), the latest at seal {max(c.seq for _, c in found)}"
        if found
        else ""
    )
    out.print(f"[green]Audit chain intact:[/] {report.checked} events verified{note}{held}.")


@audit_app.command("keygen")
def audit_keygen(
    private_key: Annotated[Path, typer.Option("--private-key", help="Where to write the private key (mode 600).")],
    public_key: Annotated[Path, typer.Option("--public-key", help="Where to write the public key.")],
) -> None:
    """Make an Ed25519 key pair for signing audit checkpoints. Keep the private key away from the database."""
    from signoff.audit import checkpoints

    with _errors():
        made = checkpoints.write_keys(private_key, public_key)
    out.print(f"Wrote the private key to {private_key} and the public key to {public_key} (key id {made}).")


@audit_app.command("checkpoint")
def audit_checkpoint(
    private_key: Annotated[Path, typer.Option("--private-key", help="The Ed25519 private key to sign with.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="The file to write (default: stdout).")] = None,
    project: ProjectOption = None,
) -> None:
    """Seal what is committed and sign the chain's head: a file to keep where the database's administrators
    cannot write, for `signoff audit verify --checkpoint`."""
    from signoff.audit import checkpoints

    with _errors():
        key = checkpoints.load_private_key(private_key)
        document = checkpoints.make(_database(_project(project)), key)
        text = json.dumps(document, indent=2) + "\n"
        if output is None:
            sys.stdout.write(text)
            return
        _write_whole(output, [text])
    out.print(f"Signed seal {document['seq']} (key id {document['key_id']}) into {output}.")


@audit_app.command("seal")
def audit_seal(project: ProjectOption = None) -> None:
    """Seal every committed event now (a running server does this continuously)."""
    with _errors():
        sealed = audit.seal(_database(_project(project)), full=True)
    out.print(f"Sealed {sealed} events.")


@audit_app.command("export")
def audit_export(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="The file to write (default: stdout).")] = None,
    since: Annotated[str | None, typer.Option(help="First time included, ISO 8601 (UTC if no zone).")] = None,
    until: Annotated[str | None, typer.Option(help="First time excluded, ISO 8601 (UTC if no zone).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl (exact, for checking the chain) or csv.")] = "jsonl",
    project: ProjectOption = None,
) -> None:
    """Write the sealed audit events in chain order, each with its previous and own hash."""
    if fmt not in audit.EXPORTS:
        _fail(f"--format must be jsonl or csv, not {fmt!r}", 2)
    with _errors():
        start, end = audit.time_bound(since, "--since"), audit.time_bound(until, "--until")
        db = _database(_project(project))
        lines = audit.EXPORTS[fmt][1](audit.sealed_events(db, start, end))
        if output is None:
            sys.stdout.writelines(lines)
            return
        count = _write_whole(output, lines)
    out.print(f"Wrote {count - (fmt == 'csv')} sealed events to {output}.")


def _write_whole(output: Path, lines: Iterable[str]) -> int:
    """Write ``lines`` to ``output`` under a ``.partial`` name and rename it when complete, so that an interrupted
    write never leaves a cut-off file; the number of lines."""
    partial = output.with_name(output.name + ".partial")
    count = 0
    try:
        with partial.open("w", encoding="utf-8", newline="") as file:
            for line in lines:
                file.write(line)
                count += 1
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    return count


@app.command()
def demo(
    folder: Annotated[Path, typer.Option("--dir", help="Where the demo lives (wiped and rebuilt).")] = Path(
        "signoff-demo"
    ),
    cases: Annotated[int, typer.Option(min=100, max=200_000, help="Credit applications to ingest.")] = 3000,
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    host: str = "127.0.0.1",
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="Start the server at the end.")] = True,
) -> None:
    """Build a demo on SQLite (credit, breast-cancer triage, digits), ingest cases, and serve it with the web UI."""
    from signoff.sim.example import write_example

    marker = folder / ".signoff-demo"
    if folder.exists() and any(folder.iterdir()):
        if not marker.exists():
            _fail(f"{folder} exists and is not a Signoff demo folder; choose another with --dir")
        shutil.rmtree(folder)
    with _errors():
        with out.status("Generating applicants and training the models..."):
            example = write_example(folder, cases=cases, with_cancer=True)
        marker.write_text("built by `signoff demo`; safe to delete\n", encoding="utf-8")
        db = Database(example.project.database_url)
        migrate.upgrade(db)
        tokens = {name: users.create_user(db, name, role, "demo")[1] for name, role in _DEMO_USERS}
        passwords = {name: users.new_password() for name, role in _DEMO_USERS if role is not Role.INTAKE}
        for name, password in passwords.items():
            users.set_password(db, name, password, "demo")
        runtimes = intake.prepare(db, example.project, "demo")
        for flow, path in example.case_files.items():
            total = files.count_rows(path)
            with _progress() as bar:
                task = bar.add_task(f"Ingesting {flow}", total=total)
                ingest.ingest_file(db, runtimes[flow], path, "demo", partial(bar.advance, task))
        audit.seal(db)
    _demo_summary(example.project, db, tokens, passwords, host, port)
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


def _demo_summary(
    project: Project, db: Database, tokens: dict[str, str], passwords: dict[str, str], host: str, port: int
) -> None:
    from sqlalchemy import func, select

    from signoff.store.schema import cases, tasks

    with db.transaction(write=False) as conn:
        n_cases = conn.execute(select(func.count()).select_from(cases)).scalar_one()
        n_tasks = conn.execute(select(func.count()).select_from(tasks).where(tasks.c.status == "queued")).scalar_one()
    out.print(f"\n[bold green]Signoff demo ready[/] in {project.path.parent}")
    out.print(f"  {n_cases} cases recorded, {n_tasks} tasks waiting for review")
    out.print(f"  Web UI:   http://{host}:{port}/  (log in with a name and password below)")
    out.print(f"  API:      http://{host}:{port}/api/v1")
    out.print(f"  API docs: http://{host}:{port}/docs")
    table = Table("user", "role", "password (web UI)", "API token")
    for name, role in _DEMO_USERS:
        table.add_row(name, role.value, passwords.get(name, "-"), tokens[name])
    out.print(table)
    out.print(f"Try:  curl -s -X POST -H 'Authorization: Bearer <alice token>' http://{host}:{port}/api/v1/tasks/claim")


WindowOption = Annotated[str, typer.Option("--window", "-w", help="hour, day or week (the last one, to now).")]


@app.command("metrics")
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

    from signoff.metrics import alerts
    from signoff.metrics import service as metrics_service
    from signoff.metrics.report import summary_rows

    with _errors():
        loaded = _project(project)
        db = _database(loaded)
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
        table = Table(
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


@app.command("report")
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

    with _errors():
        loaded = _project(project)
        found = metrics_service.flow_metrics(_database(loaded), loaded, flow, window, points=points)
        _write_whole(output, [render(found)])
    out.print(f"Wrote {output} ({output.stat().st_size // 1024} KiB): {found.cases} cases in the last {window}.")
