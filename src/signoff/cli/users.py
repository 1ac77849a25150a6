"""``signoff users``: users, roles, API tokens, web passwords, and what a lead sets on a reviewer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from signoff.cli.common import (
    ACTOR,
    FlowArgument,
    FlowsOption,
    NameArgument,
    ProjectOption,
    ReasonOption,
    as_lead,
    database,
    errors,
    load_project,
    out,
    policed,
    sealed,
    table_of,
)
from signoff.domain import MAX_ID, Role

users_app = typer.Typer(no_args_is_help=True)  # its help: GROUPS in cli/main.py


@users_app.command("add")
def users_add(
    name: NameArgument,
    role: Annotated[Role, typer.Option(help="What the user may do.")],
    flow: FlowsOption = None,
    project: ProjectOption = None,
) -> None:
    """Create a user and print their first API token (shown once; only its hash is stored)."""
    from signoff import audit, users

    with errors():
        db = database(load_project(project))
        user, token = users.create_user(db, name, role, ACTOR, flow or [])
    out.print(f"Created [bold]{user.name}[/] ({user.describe()}). API token (keep it secret, it is shown once):")
    print(token)  # before sealing: the token is committed, and whatever happens next must not lose it
    with errors():
        audit.seal(db)


RoleArgument = Annotated[Role, typer.Argument(help="The role to give or take away.")]


def _grant_command(give: bool, doc: str) -> Callable[..., None]:
    """``users grant`` or ``users revoke``: give or take away a role on flows, and show what the user holds after."""

    def command(name: str, role: RoleArgument, flow: FlowsOption = None, project: ProjectOption = None) -> None:
        from signoff import users

        change = users.grant if give else users.revoke
        with sealed(project) as (_, db):
            user = change(db, name, role, flow or [], ACTOR)
        out.print(f"[bold]{user.name}[/]: {user.describe()}")

    command.__doc__ = doc
    return command


users_app.command("grant")(_grant_command(True, "Give a user a role on flows (on every flow without --flow). Audited."))
users_app.command("revoke")(
    _grant_command(
        False,
        "Take a role on flows away from a user (without --flow: the grant on every flow). Their leases and "
        "assignments on flows they may no longer review go back to the queue. Audited.",
    )
)


@users_app.command("token")
def users_token(
    name: NameArgument,
    revoke_others: Annotated[bool, typer.Option(help="Revoke the user's earlier tokens.")] = False,
    project: ProjectOption = None,
) -> None:
    """Issue a new API token for a user."""
    from signoff import audit, users

    with errors():
        db = database(load_project(project))
        token = users.issue_token(db, name, ACTOR, revoke_others=revoke_others)
    print(token)  # before sealing, as in users add
    with errors():
        audit.seal(db)


@users_app.command("password")
def users_password(
    name: NameArgument,
    generate: Annotated[bool, typer.Option("--generate", help="Set a random password and print it.")] = False,
    project: ProjectOption = None,
) -> None:
    """Set a user's password for the web UI (asked twice, or random with --generate); ends their web sessions."""
    from signoff import users

    password = (
        users.new_password()
        if generate
        else typer.prompt(f"New password for {name}", hide_input=True, confirmation_prompt=True)
    )
    with sealed(project) as (_, db):
        users.set_password(db, name, password, ACTOR)
    out.print(f"Password set for [bold]{name}[/].")
    if generate:
        print(password)


@users_app.command("list")
def users_list(project: ProjectOption = None) -> None:
    """List users, the roles they hold flow by flow ("*": every flow), and who is deactivated or locked out."""
    from signoff import users

    with errors():
        db = database(load_project(project))
        found, statuses = users.list_users(db), users.statuses(db)
    table = table_of("id", "name", "roles", "status")
    for user in found:
        table.add_row(str(user.id), user.name, user.describe(), statuses.get(user.name, "active"))
    out.print(table)


@users_app.command("unlock")
def users_unlock(name: str, project: ProjectOption = None) -> None:
    """Lift a user's login lockout or backoff and forget their failed logins."""
    from signoff import users

    with sealed(project) as (_, db):
        forgotten = users.unlock(db, name, ACTOR)
    out.print(f"{name} may log in again ({forgotten} failed logins forgotten).")


@users_app.command("deactivate")
def users_deactivate(name: str, project: ProjectOption = None) -> None:
    """Stop a user: their API tokens and web sessions stop working at once."""
    _set_active(name, False, project)


@users_app.command("activate")
def users_activate(name: str, project: ProjectOption = None) -> None:
    """Let a deactivated user work again, with the API tokens they had."""
    _set_active(name, True, project)


def _set_active(name: str, active: bool, project: Path | None) -> None:
    from signoff import users

    with sealed(project) as (_, db):
        changed = users.set_active(db, name, active, ACTOR)
    state = "active" if active else "deactivated"
    out.print(f"{name} is {state}." if changed else f"{name} was already {state}.")


@users_app.command("skills")
def users_skills(
    name: NameArgument,
    skills: Annotated[
        list[str] | None, typer.Argument(callback=policed(name=True), help="The skills; none clears them.")
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Set a reviewer's skills (queues may require some)."""
    from signoff.review import leads

    kept = as_lead(project, lambda _, db, lead: leads.set_skills(db, lead, name, skills or []))
    out.print(f"{name}: {', '.join(kept) or 'no skills'}")


@users_app.command("conflict")
def users_conflict(
    name: NameArgument,
    case_id: Annotated[int, typer.Argument(min=1, max=MAX_ID, help="The case they must never review.")],
    reason: ReasonOption,
    project: ProjectOption = None,
) -> None:
    """Mark a reviewer conflicted on a case: its tasks are never offered to them."""
    from signoff.review import leads

    as_lead(project, lambda _, db, lead: leads.mark_conflict(db, lead, name, case_id, reason))
    out.print(f"{name} will not be offered case {case_id}.")


@users_app.command("unpause")
def users_unpause(
    name: NameArgument,
    flow: FlowArgument,
    queue: Annotated[str, typer.Argument(callback=policed(name=True), help="The queue.")],
    project: ProjectOption = None,
) -> None:
    """Lift the pause that gold tasks put on a reviewer for a queue."""
    from signoff.review import leads

    as_lead(project, lambda _, db, lead: leads.lift_pause(db, lead, name, flow, queue))
    out.print(f"{name} may work {flow}/{queue} again.")
