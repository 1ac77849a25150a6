"""``signoff consume``: a flow's cases from a message broker, its decisions back to it."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

import typer

from signoff.cli.common import CasesFlowArgument, ProjectOption, database, errors, fail, load_project, out

ACTOR = "broker"


def _safe(url: str) -> str:
    """The broker URL as it may be printed: without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


def consume_command(
    flow: CasesFlowArgument,
    broker: Annotated[
        str,
        typer.Option(
            envvar="SIGNOFF_BROKER",
            help="amqp://user:password@host:5672/ (RabbitMQ), redis://host:6379 (Redis Streams) or "
            "nats://host:4222 (NATS JetStream).",
        ),
    ],
    queue: Annotated[str | None, typer.Option(help="Where cases arrive (default: signoff.FLOW.cases).")] = None,
    reply: Annotated[str | None, typer.Option(help="Where decisions go (default: signoff.FLOW.decisions).")] = None,
    dead_letter: Annotated[
        str | None, typer.Option(help="Where messages that are not valid cases go (default: signoff.FLOW.dead).")
    ] = None,
    group: Annotated[
        str | None, typer.Option(help="The consumer group the flow's consumers share (default: signoff-FLOW).")
    ] = None,
    window: Annotated[int, typer.Option(min=1, max=10_000, help="Messages at most per intake transaction.")] = 500,
    reclaim: Annotated[
        float,
        typer.Option(
            min=0.1,
            help="Seconds after which a message a stopped consumer left unacknowledged is taken again "
            "(Redis, NATS; RabbitMQ gives it back when the connection drops).",
        ),
    ] = 30.0,
    project: ProjectOption = None,
) -> None:
    """Take a flow's cases from a broker and publish each decision to the reply queue when it is made. A message is
    acknowledged after its case committed; an invalid one goes to the dead-letter queue with its error. Several
    consumers may run side by side (PostgreSQL). Stops on SIGTERM or Ctrl-C."""
    import asyncio
    import signal

    from signoff import intake
    from signoff.streams import Consumer, Names, link_for

    with errors():
        loaded = load_project(project)
        if flow not in loaded.flows:
            fail(f"flow {flow!r} is not in {loaded.path}; flows: {', '.join(loaded.flows)}", 2)
        defaults = Names.of(flow)
        names = Names(
            queue or defaults.cases, reply or defaults.decisions, dead_letter or defaults.dead, group or defaults.group
        )
        link = link_for(broker, names, reclaim=reclaim)
        db = database(loaded)
        runtime = intake.prepare(db, loaded, ACTOR)[flow]
        consumer = Consumer(db, loaded, runtime, link, ACTOR, window=window)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, stop.set)
        out.print(
            f"Consuming {flow} from {_safe(broker)}: cases from {names.cases}, decisions to {names.decisions}, "
            f"dead letters to {names.dead}.",
            highlight=False,
            soft_wrap=True,
        )
        await consumer.run(stop)

    with errors():
        asyncio.run(run())
        db.dispose()
    out.print(f"Took {consumer.taken} cases, {consumer.dead} dead letters; published {consumer.published} decisions.")
