"""Broker intake (``signoff consume``) beside each broker's bare consume rate, on SQLite and PostgreSQL.

For each broker (RabbitMQ, Redis Streams, NATS JetStream) and each database, on queues of their own:

1. The bare rate: N messages published beforehand are consumed through the same FastStream link, the same window
   of unacknowledged messages and the same manual acknowledgement as ``signoff consume``, by a handler that only
   acknowledges the messages, a window at a time. Nothing else: no parsing, no database.
2. Signoff: N cases of the ``signoff init`` example flow (``credit-approval``, its trained model) published
   beforehand are consumed by ``signoff.streams.Consumer`` on an empty, migrated database: validated, scored,
   routed, recorded with their audit events a window at a time, acknowledged, and the model's decisions published
   to the reply queue (sealing included). Timed from the first message's arrival to the last case's
   acknowledgement (and the consumer's stop); the model load and the connection are not timed.

The ratio is Signoff's rate over the bare rate, both measured in the same run. Targets (issue «Integrations»):
>= 5,000 cases/s and >= 0.5 of the bare rate. Run: ``make bench-brokers`` or ``.venv/bin/python bench/brokers.py``
(``--cases N``, default 20,000). It prints numbers and verdicts; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from review_queue import DEFAULT_POSTGRES, console, database, load_average, machine_facts, verdict
from rich.table import Table

from signoff import intake
from signoff.config import load_project
from signoff.database import upgrade
from signoff.sim.example import write_example
from signoff.store.database import Database
from signoff.streams import Consumer, Names, link_for
from signoff.streams.brokers import Delivery, Handler, Link

TARGET_RATE = 5_000.0
TARGET_RATIO = 0.5
URLS = {
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672/",
    "redis": "redis://127.0.0.1:6379",
    "nats": "nats://127.0.0.1:4222",
}
WINDOW = 500


def fresh_names() -> Names:
    tag = uuid.uuid4().hex[:10]
    return Names(f"bench.{tag}.cases", f"bench.{tag}.decisions", f"bench.{tag}.dead", f"bench-{tag}")


async def publish(kind: str, names: Names, bodies: list[bytes]) -> None:
    """Publish as a producer would, pipelined: the time it takes is not measured."""
    url = URLS[kind]
    if kind == "rabbitmq":
        import aio_pika

        async with await aio_pika.connect(url) as connection:
            channel = await connection.channel()
            for name in (names.cases, names.decisions, names.dead):
                await channel.declare_queue(name, durable=True)
            for start in range(0, len(bodies), 1000):
                await asyncio.gather(
                    *(
                        channel.default_exchange.publish(aio_pika.Message(body), routing_key=names.cases)
                        for body in bodies[start : start + 1000]
                    )
                )
    elif kind == "redis":
        from redis.asyncio import Redis

        async with Redis.from_url(url) as client:
            for start in range(0, len(bodies), 1000):
                async with client.pipeline(transaction=False) as pipe:
                    for body in bodies[start : start + 1000]:
                        pipe.xadd(names.cases, {"__data__": body})
                    await pipe.execute()
    else:
        import nats

        client = await nats.connect(url)
        js = client.jetstream()
        await js.add_stream(name=names.group, subjects=[names.cases, names.decisions, names.dead])
        for start in range(0, len(bodies), 1000):
            await asyncio.gather(*(js.publish(names.cases, body) for body in bodies[start : start + 1000]))
        await client.close()


async def delete(kind: str, names: Names) -> None:
    url = URLS[kind]
    if kind == "rabbitmq":
        import aio_pika

        async with await aio_pika.connect(url) as connection:
            channel = await connection.channel()
            for name in (names.cases, names.decisions, names.dead):
                await channel.queue_delete(name)
    elif kind == "redis":
        from redis.asyncio import Redis

        async with Redis.from_url(url) as client:
            await client.delete(names.cases, names.decisions, names.dead)
    else:
        import nats

        client = await nats.connect(url)
        await client.jetstream().delete_stream(names.group)
        await client.close()


class Timed:
    """A link that notes when its first message arrived: the rates leave out connecting and starting up (seconds
    on a loaded machine), which a long-running consumer pays once."""

    def __init__(self, link: Link) -> None:
        self.link, self.names, self.first = link, link.names, 0.0

    async def start(self, handler: Handler, window: int) -> None:
        async def noted(deliveries: Sequence[Delivery]) -> None:
            self.first = self.first or time.perf_counter()
            await handler(deliveries)

        await self.link.start(noted, window)

    async def stop(self) -> None:
        await self.link.stop()

    async def publish(self, bodies: Sequence[bytes], to: str, message_ids: Sequence[str]) -> None:
        await self.link.publish(bodies, to, message_ids)

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        await self.link.ack(deliveries)


async def bare(kind: str, n: int, bodies: list[bytes]) -> float:
    """Messages per second through the link, acknowledged a window at a time as the consumer does."""
    names = fresh_names()
    await publish(kind, names, bodies)
    link = Timed(link_for(URLS[kind], names))
    done = asyncio.Event()
    count = 0

    held: list[Delivery] = []

    async def handle(deliveries: Sequence[Delivery]) -> None:
        nonlocal count
        held.extend(deliveries)
        count += len(deliveries)
        if len(held) >= WINDOW or count >= n:
            taken = held[:]
            held.clear()
            await link.ack(taken)
        if count >= n:
            done.set()

    try:
        await link.start(handle, WINDOW)
        await done.wait()
        seconds = time.perf_counter() - link.first
        await link.stop()
    finally:
        await delete(kind, names)
    return n / seconds


async def signoff(kind: str, n: int, bodies: list[bytes], project_path: Path, url: str) -> dict[str, float]:
    """Cases per second through ``Consumer``, and how many decisions it published meanwhile."""
    names = fresh_names()
    await publish(kind, names, bodies)
    os.environ["SIGNOFF_DATABASE_URL"] = url
    project = load_project(project_path)
    db = Database(project.database_url)
    upgrade(db)
    runtime = intake.prepare(db, project, "bench")["credit-approval"]
    link = Timed(link_for(URLS[kind], names))
    consumer = Consumer(db, project, runtime, link, "bench", window=WINDOW)
    stop = asyncio.Event()

    async def watch() -> None:
        while consumer.taken < n:
            await asyncio.sleep(0.01)
        stop.set()

    try:
        await asyncio.gather(consumer.run(stop), watch())
        seconds = time.perf_counter() - link.first
    finally:
        await delete(kind, names)
        db.dispose()
    return {"rate": n / seconds, "seconds": seconds, "published": consumer.published}


def bodies_of(folder: Path, n: int) -> list[bytes]:
    with (folder / "credit-cases.csv").open() as file:
        rows = list(csv.DictReader(file))
    text = {"external_id", "student", "customer_id"}
    out = []
    for i in range(n):
        row = rows[i % len(rows)]
        fields = {k: v if k in text else float(v) for k, v in row.items() if k != "external_id"}
        out.append(json.dumps({"external_id": f"b-{i}", "fields": fields}).encode())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--brokers", default="rabbitmq,redis,nats")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres", default=os.environ.get("SIGNOFF_BENCH_POSTGRES", DEFAULT_POSTGRES))
    args = parser.parse_args()
    load_before = load_average()
    table = Table(title=f"Broker intake: {args.cases:,} cases per run, window {WINDOW}")
    for column in ("broker", "database", "bare msg/s", "signoff cases/s", "ratio", "decisions", ">= 5,000", ">= 0.5"):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory(prefix="signoff-bench-brokers-") as folder:
        root = Path(folder)
        example = write_example(root / "project")
        bodies = bodies_of(root / "project", args.cases)
        for kind in args.brokers.split(","):
            for backend in args.databases.split(","):
                floor = asyncio.run(bare(kind, args.cases, bodies))
                with database(backend, root, args.postgres, f"{kind}_{backend}") as url:
                    got = asyncio.run(signoff(kind, args.cases, bodies, example.project.path, url))
                ratio = got["rate"] / floor
                table.add_row(
                    kind,
                    backend,
                    f"{floor:,.0f}",
                    f"{got['rate']:,.0f}",
                    f"{ratio:.2f}",
                    f"{got['published']:,.0f}",
                    verdict(got["rate"] >= TARGET_RATE),
                    verdict(ratio >= TARGET_RATIO),
                )
                console.print(f"{kind} on {backend}: bare {floor:,.0f}/s, signoff {got['rate']:,.0f}/s ({ratio:.2f})")
    console.print(table)
    for fact in machine_facts(args.postgres if "postgresql" in args.databases else None, load_before):
        console.print(fact)


if __name__ == "__main__":
    main()
