"""``signoff consume`` against a real broker: publish a flow's cases, kill the consumer mid-stream, read the reply
and dead-letter queues, and look at what the broker still holds. One ``Broker`` per kind, on names of its own."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from helpers.loops import run_apart
from helpers.processes import SIGNOFF, environment, signoff
from signoff import review, users
from signoff.config import load_project
from signoff.domain import Role
from signoff.store.database import Database
from signoff.store.schema import cases, decisions
from signoff.streams import Names

URLS = {
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672/",
    "redis": "redis://127.0.0.1:6379",
    "nats": "nats://127.0.0.1:4222",
}
FLOW = "credit-approval"


def unique_names() -> Names:
    tag = uuid.uuid4().hex[:10]
    return Names(f"test.{tag}.cases", f"test.{tag}.decisions", f"test.{tag}.dead", f"test-{tag}")


def example_bodies(project: Path, n: int) -> list[bytes]:
    """``n`` cases of the example flow as messages, each with its own external id (``m-0``, ``m-1``...)."""
    with (project.parent / "credit-cases.csv").open() as file:
        rows = list(csv.DictReader(file))

    def value(text: str) -> Any:
        try:
            return float(text)
        except ValueError:
            return text

    bodies = []
    for i in range(n):
        row = {k: value(v) for k, v in rows[i % len(rows)].items() if k != "external_id"}
        bodies.append(json.dumps({"external_id": f"m-{i}", "fields": row}).encode())
    return bodies


class Broker:
    """A test's side of one broker: it publishes cases as a producer would and reads what the consumer left."""

    def __init__(self, kind: str, names: Names) -> None:
        self.kind, self.url, self.names = kind, URLS[kind], names
        self.taken: dict[str, list[dict[str, Any]]] = {}  # what was read from RabbitMQ queues (reading takes it)

    def run(self, work: Any) -> Any:
        return run_apart(work)

    @asynccontextmanager
    async def _channel(self) -> AsyncIterator[Any]:
        """A RabbitMQ channel on a connection of its own, closed after use."""
        import aio_pika

        async with await aio_pika.connect(self.url) as connection:
            yield await connection.channel()

    @asynccontextmanager
    async def _nats(self) -> AsyncIterator[Any]:
        """A NATS connection, closed after use."""
        import nats

        client = await nats.connect(self.url)
        try:
            yield client
        finally:
            await client.close()

    def publish(self, bodies: list[bytes]) -> None:
        self.run(self._publish(bodies))

    async def _publish(self, bodies: list[bytes]) -> None:
        names = self.names
        if self.kind == "rabbitmq":
            import aio_pika

            async with self._channel() as channel:
                for name in (names.cases, names.decisions, names.dead):
                    await channel.declare_queue(name, durable=True)
                for body in bodies:
                    message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
                    await channel.default_exchange.publish(message, routing_key=names.cases)
        elif self.kind == "redis":
            from redis.asyncio import Redis

            async with Redis.from_url(self.url) as client:
                for start in range(0, len(bodies), 500):
                    async with client.pipeline(transaction=False) as pipe:
                        for body in bodies[start : start + 500]:
                            pipe.xadd(names.cases, {"__data__": body})
                        await pipe.execute()
        else:
            async with self._nats() as client:
                js = client.jetstream()
                await js.add_stream(name=names.group, subjects=[names.cases, names.decisions, names.dead])
                for body in bodies:
                    await js.publish(names.cases, body)

    def read(self, name: str) -> list[dict[str, Any]]:
        """Every message on the reply or the dead-letter queue so far, parsed."""
        found: list[dict[str, Any]] = self.run(self._read(name))
        if self.kind != "rabbitmq":
            return found
        self.taken.setdefault(name, []).extend(found)
        return list(self.taken[name])

    async def _read(self, name: str) -> list[dict[str, Any]]:
        bodies: list[bytes] = []
        if self.kind == "rabbitmq":
            async with self._channel() as channel:
                queue = await channel.declare_queue(name, durable=True)
                while (message := await queue.get(fail=False)) is not None:
                    bodies.append(message.body)
                    await message.ack()
        elif self.kind == "redis":
            from redis.asyncio import Redis

            async with Redis.from_url(self.url) as client:
                bodies = [entry[b"__data__"] for _id, entry in await client.xrange(name)]
        else:
            import nats

            async with self._nats() as client:
                js = client.jetstream()
                info = await js.stream_info(self.names.group, subjects_filter=name)
                for seq in range(1, info.state.last_seq + 1):
                    try:
                        found = await js.get_msg(self.names.group, seq)
                    except nats.js.errors.NotFoundError:
                        continue
                    if found.subject == name and found.data is not None:
                        bodies.append(found.data)
        return [json.loads(body) for body in bodies]

    def unacknowledged(self) -> int:
        """How many published cases the broker still holds for the consumers (waiting or unacknowledged)."""
        left: int = self.run(self._unacknowledged())
        return left

    async def _unacknowledged(self) -> int:
        names = self.names
        if self.kind == "rabbitmq":
            async with self._channel() as channel:
                queue = await channel.declare_queue(names.cases, durable=True, passive=True)
                count: int = queue.declaration_result.message_count or 0
                return count
        if self.kind == "redis":
            from redis.asyncio import Redis

            async with Redis.from_url(self.url) as client:
                groups = {g["name"].decode(): g for g in await client.xinfo_groups(names.cases)}
                group = groups[names.group]
                return int(group["pending"]) + int(group.get("lag") or 0)
        async with self._nats() as client:
            info = await client.jetstream().consumer_info(names.group, names.group)
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    def delete(self) -> None:
        self.run(self._delete())

    async def _delete(self) -> None:
        names = self.names
        if self.kind == "rabbitmq":
            async with self._channel() as channel:
                for name in (names.cases, names.decisions, names.dead):
                    await channel.queue_delete(name)
        elif self.kind == "redis":
            from redis.asyncio import Redis

            async with Redis.from_url(self.url) as client:
                await client.delete(names.cases, names.decisions, names.dead)
        else:
            async with self._nats() as client:
                await client.jetstream().delete_stream(names.group)


class ConsumerProcess:
    """``signoff consume`` as a real process on the test's names, its output in ``log``."""

    def __init__(self, project: Path, database_url: str, broker: Broker, log: Path) -> None:
        names = broker.names
        self.command = [SIGNOFF, "consume", FLOW, "--broker", broker.url, "--project", str(project)]
        self.command += ["--queue", names.cases, "--reply", names.decisions, "--dead-letter", names.dead]
        self.command += ["--group", names.group, "--window", "200", "--reclaim", "3"]
        self.env, self.log = environment(database_url), log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.command, env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        assert self.process.wait(timeout=30) == -signal.SIGKILL

    def stop(self) -> str:
        """SIGTERM: it finishes its window and exits 0; its output."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=120)
        output = self.log.read_text()
        assert code == 0, output
        return output

    def ensure_stopped(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


def example_project(folder: Path) -> Path:
    """``signoff init`` in ``folder`` (its database is set per test by SIGNOFF_DATABASE_URL)."""
    done = signoff("init", str(folder), env=environment())
    assert done.returncode == 0, done.stderr
    return folder / "signoff.yaml"


def stored(db: Database) -> dict[str, int]:
    """External id -> how many cases the store has with it."""
    with db.transaction(write=False) as conn:
        query = select(cases.c.external_id, func.count()).group_by(cases.c.external_id)
        return {row[0]: row[1] for row in conn.execute(query)}


def wait_for(check: Any, what: str, timeout: float = 240.0, process: ConsumerProcess | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if process is not None and process.process is not None and process.process.poll() is not None:
            raise AssertionError(f"the consumer exited while waiting for {what}: {process.log.read_text()}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def review_one(db: Database, project: Path) -> tuple[int, str]:
    """A reviewer decides one case waiting for review: its case id and the label given."""
    loaded = load_project(project)
    user = users.create_user(db, f"r-{uuid.uuid4().hex[:6]}", Role.REVIEWER, "tester")[0]
    claim = review.claim(db, loaded, user, flow=FLOW)
    assert claim is not None, "no case waits for review"
    label = loaded.flows[FLOW].labels[0]
    result = review.submit(db, loaded, user, claim.task_id, claim.token, label)
    return result.case_id, label


def decided_by_model(db: Database) -> set[str]:
    """External ids of the cases the model decided at intake."""
    with db.transaction(write=False) as conn:
        query = select(cases.c.external_id).join(decisions, decisions.c.case_id == cases.c.id)
        return {row[0] for row in conn.execute(query.where(decisions.c.decided_by == "model"))}


MALFORMED = [
    b"not json at all",
    b'{"external_id": "shape-1", "fields": "not an object"}',
    b'{"external_id": "bad-age", "fields": {"age": "old"}}',
]


def killed_mid_stream(kind: str, database_url: str, project: Path, tmp_path: Path, n: int = 4000) -> None:
    """The consumer killed with SIGKILL mid-stream and started again: every case once, every message acknowledged
    had its case, malformed messages in the dead letters with their errors, a redelivered case not doubled, and
    the decisions on the reply queue, the model's and then a reviewer's."""
    broker = Broker(kind, unique_names())
    db = Database(database_url)
    consumer = ConsumerProcess(project, database_url, broker, tmp_path / "consume.log")
    bodies = example_bodies(project, n)
    third = n // 3
    # malformed messages among the others, and one case published twice (as a producer retrying would)
    messages = [*bodies[:third], MALFORMED[0], *bodies[third : 2 * third], *MALFORMED[1:], *bodies[2 * third :]]
    messages.append(bodies[7])
    try:
        broker.publish(messages)
        consumer.start()
        wait_for(lambda: len(stored(db)) > 0, "the first window", process=consumer)
        consumer.kill()
        have, left = stored(db), broker.unacknowledged()
        assert set(have.values()) == {1}, "a case stored twice"
        assert left > 0, "the consumer finished before it was killed: not mid-stream"
        acknowledged = len(messages) - left
        # every message the broker no longer holds has its case (or is a dead letter, or the repeat of a case)
        assert len(have) >= acknowledged - len(MALFORMED) - 1, (len(have), acknowledged)

        consumer.start()
        wait_for(lambda: len(stored(db)) == n and broker.unacknowledged() == 0, "every case", process=consumer)
        have = stored(db)
        assert sorted(have) == sorted(f"m-{i}" for i in range(n)) and set(have.values()) == {1}

        wait_for(lambda: len(broker.read(broker.names.dead)) >= len(MALFORMED), "the dead letters")
        dead = broker.read(broker.names.dead)
        assert sorted(letter["body"].encode() for letter in dead) == sorted(MALFORMED)
        errors = {letter["body"]: letter["error"] for letter in dead}
        assert "not JSON" in errors[MALFORMED[0].decode()]
        assert "fields" in errors[MALFORMED[1].decode()]
        assert "fields.age" in errors[MALFORMED[2].decode()]

        automatic = decided_by_model(db)
        assert automatic, "the model decided no case"

        def by(decided_by: str) -> list[dict[str, Any]]:
            return [m for m in broker.read(broker.names.decisions) if m["decided_by"] == decided_by]

        wait_for(
            lambda: {m["external_id"] for m in by("model")} >= automatic, "the model's decisions", process=consumer
        )
        assert {m["external_id"] for m in by("model")} == automatic
        assert all(m["flow"] == FLOW and m["label"] for m in by("model"))

        case_id, label = review_one(db, project)
        wait_for(
            lambda: any(m["case_id"] == case_id for m in by("reviewer")), "the reviewer's decision", process=consumer
        )
        assert next(m["label"] for m in by("reviewer") if m["case_id"] == case_id) == label
        assert "Took" in consumer.stop()
    finally:
        consumer.ensure_stopped()
        broker.delete()
        db.dispose()
