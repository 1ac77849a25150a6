"""Webhooks at the command line: the delivery log, replaying a delivery by hand, and making a signing secret
(``signoff webhooks``)."""

from __future__ import annotations

from typing import Annotated

import typer

from signoff.cli.common import ACTOR, ProjectOption, fail, out, reading, sealed, table_of

webhooks_app = typer.Typer(no_args_is_help=True)  # its help: GROUPS in cli/main.py


@webhooks_app.command("deliveries")
def deliveries_command(
    webhook: Annotated[str | None, typer.Option(help="Only this webhook's deliveries.")] = None,
    status: Annotated[str | None, typer.Option(help="pending, delivered or dead (dead letters).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, latest events first.")] = 50,
    project: ProjectOption = None,
) -> None:
    """The delivery log: each message's id (its webhook-id header), events, status, attempts and last error."""
    from signoff.audit import webhooks

    if status is not None and status not in webhooks.STATUSES:
        fail(f"--status {status!r} is not one of {', '.join(webhooks.STATUSES)}", 2)
    with reading(project) as db:
        found = webhooks.deliveries(db, webhook, status, limit)
    if not found:
        out.print("No delivery matches.")
        return
    table = table_of("id", "webhook", "seq", "events", "status", "attempts", "last error")
    for d in found:
        seqs = f"{d.first_seq}-{d.last_seq}"
        table.add_row(d.id, d.webhook, seqs, str(d.events), d.status, str(d.attempts), d.last_error or "")
    out.print(table)


@webhooks_app.command("replay")
def replay_command(
    delivery_id: Annotated[
        str, typer.Argument(help="The delivery's id (msg_...), from `signoff webhooks deliveries`.")
    ],
    project: ProjectOption = None,
) -> None:
    """Send a delivery again (a dead letter, or one delivered before) with the same id, before the webhook's later
    deliveries; a running server sends it within about a second. Audited."""
    from signoff.audit import webhooks

    with sealed(project) as (loaded, db):
        done = webhooks.replay(db, loaded, ACTOR, delivery_id)
    out.print(f"Delivery {done.id} to {done.webhook} (events {done.first_seq}-{done.last_seq}) is pending again.")


@webhooks_app.command("secret")
def secret_command() -> None:
    """Print a new signing secret (whsec_ and 32 random bytes in base64) to put in a webhook's secret_env
    variable and give to its receiver."""
    from signoff.audit import webhooks

    out.print(webhooks.new_secret(), highlight=False)
