"""One link per broker, through FastStream: subscribe to a flow's cases with manual acknowledgement, publish a
decision or a dead letter so that the broker keeps it, and name a message by a key its redelivery keeps.

FastStream gives RabbitMQ, Redis Streams and NATS JetStream one interface (subscribers, messages with ``ack``,
``publish``); what differs between them is how a queue is declared and how a message abandoned by a killed
consumer comes back, and that is all this module says.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from faststream import AckPolicy, Context
from faststream.message import StreamMessage

from signoff.errors import InvalidInput, Problem

log = logging.getLogger(__name__)  # FastStream logs each message at DEBUG here, and its failures
AT_ONCE = 32  # acknowledgements or publications in flight together
Handler = Callable[[StreamMessage[Any]], Awaitable[None]]
SCHEMES = {"amqp": "RabbitMQ", "amqps": "RabbitMQ", "redis": "Redis Streams", "rediss": "Redis Streams"}
SCHEMES |= {"nats": "NATS JetStream", "tls": "NATS JetStream"}


@dataclass(frozen=True)
class Names:
    """Where a flow's messages are: its cases, its decisions, its dead letters, and the consumer group that
    consumers of the flow share (a Redis consumer group, a NATS durable consumer; RabbitMQ shares the queue)."""

    cases: str
    decisions: str
    dead: str
    group: str

    @classmethod
    def of(cls, flow: str) -> Names:
        return cls(f"signoff.{flow}.cases", f"signoff.{flow}.decisions", f"signoff.{flow}.dead", f"signoff-{flow}")


class Link(Protocol):
    """A connection to one broker for one flow's names."""

    names: Names

    async def start(self, handler: Handler, window: int) -> None:
        """Connect, declare the queues and start delivering cases to ``handler`` (at most ``window`` unacknowledged)."""

    async def stop(self) -> None: ...

    async def publish(self, bodies: Sequence[bytes], to: str, message_ids: Sequence[str]) -> None:
        """Publish durably: once this returns, the broker keeps the messages."""

    async def ack(self, messages: Sequence[StreamMessage[Any]]) -> None:
        """Acknowledge the messages: the broker forgets them."""

    def key(self, message: StreamMessage[Any]) -> str | None:
        """The message's own id, the same on every redelivery, if the broker gives one."""


MESSAGE = Context("message")  # FastStream's way to hand a subscriber the message object


def _subscribed(handler: Handler) -> Handler:
    """``handler`` as FastStream calls it: given the message itself (its body is decoded by intake, not here)."""

    async def on_message(message: StreamMessage[Any] = MESSAGE) -> None:
        await handler(message)

    return on_message


async def _each(calls: Sequence[Awaitable[Any]]) -> None:
    """Await the calls a few dozen at a time: within a client's connection pool, one round trip for many."""
    for start in range(0, len(calls), AT_ONCE):
        await asyncio.gather(*calls[start : start + AT_ONCE])


def consumer_name() -> str:
    """This process among the group's consumers."""
    return f"{socket.gethostname()}-{os.getpid()}"


class Rabbit:
    """A durable queue per name; RabbitMQ redelivers what a closed connection left unacknowledged at once."""

    def __init__(self, url: str, names: Names) -> None:
        from faststream.rabbit import RabbitBroker

        self.names = names
        self.broker = RabbitBroker(url, logger=log, log_level=logging.DEBUG)

    async def start(self, handler: Handler, window: int) -> None:
        from faststream.rabbit import Channel, RabbitQueue

        self.broker.subscriber(
            RabbitQueue(self.names.cases, durable=True),
            channel=Channel(prefetch_count=window),
            ack_policy=AckPolicy.MANUAL,
        )(_subscribed(handler))
        await self.broker.start()
        for name in (self.names.decisions, self.names.dead):
            await self.broker.declare_queue(RabbitQueue(name, durable=True))

    async def stop(self) -> None:
        await self.broker.stop()

    async def publish(self, bodies: Sequence[bytes], to: str, message_ids: Sequence[str]) -> None:
        await _each(
            [
                self.broker.publish(
                    body, queue=to, persist=True, message_id=key, content_type="application/json", mandatory=True
                )
                for body, key in zip(bodies, message_ids, strict=True)
            ]
        )

    async def ack(self, messages: Sequence[StreamMessage[Any]]) -> None:
        await _each([message.ack() for message in messages])

    def key(self, message: StreamMessage[Any]) -> str | None:
        given = message.raw_message.message_id
        return None if given is None else f"amqp:{self.names.cases}:{given}"


class Redis:
    """Streams read by a consumer group; an entry a killed consumer left pending is claimed back (XAUTOCLAIM) by a
    second subscriber once it has been idle ``reclaim`` seconds."""

    def __init__(self, url: str, names: Names, reclaim: float) -> None:
        from faststream.redis import RedisBroker

        self.names = names
        self.reclaim = reclaim
        self.broker = RedisBroker(url, logger=log, log_level=logging.DEBUG)

    async def start(self, handler: Handler, window: int) -> None:
        from faststream.redis import StreamSub
        from redis.exceptions import ResponseError

        client = await self.broker.connect()
        try:  # from the stream's first entry: cases published before any consumer started are cases too
            await client.xgroup_create(self.names.cases, self.names.group, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        me, idle = consumer_name(), max(1, int(self.reclaim * 1000))
        new = StreamSub(self.names.cases, group=self.names.group, consumer=me, max_records=window, polling_interval=100)
        left = StreamSub(
            self.names.cases, group=self.names.group, consumer=me, min_idle_time=idle, polling_interval=500
        )
        for stream in (new, left):
            self.broker.subscriber(stream=stream, ack_policy=AckPolicy.MANUAL)(_subscribed(handler))
        await self.broker.start()

    async def stop(self) -> None:
        await self.broker.stop()

    async def publish(self, bodies: Sequence[bytes], to: str, message_ids: Sequence[str]) -> None:
        client = await self.broker.connect()  # plain entries, readable by any client: the body under __data__
        async with client.pipeline(transaction=False) as pipe:
            for body, key in zip(bodies, message_ids, strict=True):
                pipe.xadd(to, {"__data__": body, "message_id": key})
            await pipe.execute()

    async def ack(self, messages: Sequence[StreamMessage[Any]]) -> None:
        """One XACK for the whole window."""
        if messages:
            client = await self.broker.connect()
            ids = [id_ for message in messages for id_ in message.raw_message["message_ids"]]
            await client.xack(self.names.cases, self.names.group, *ids)

    def key(self, message: StreamMessage[Any]) -> str | None:
        return f"redis:{self.names.cases}:{message.raw_message['message_ids'][0].decode()}"


class Nats:
    """One JetStream stream holds the three subjects; a durable pull consumer shared by the group redelivers what
    was not acknowledged within ``reclaim`` seconds."""

    def __init__(self, url: str, names: Names, reclaim: float) -> None:
        from faststream.nats import NatsBroker

        self.names = names
        self.reclaim = reclaim
        self.broker = NatsBroker(url, logger=log, log_level=logging.DEBUG)
        self.stream = names.group.replace(".", "-")

    async def start(self, handler: Handler, window: int) -> None:
        from faststream.nats import JStream, PullSub
        from nats.js.api import ConsumerConfig

        names = self.names
        self.broker.subscriber(
            names.cases,
            stream=JStream(self.stream, subjects=[names.cases, names.decisions, names.dead]),
            durable=names.group,
            pull_sub=PullSub(batch_size=window, timeout=0.1),
            config=ConsumerConfig(ack_wait=self.reclaim, max_ack_pending=4 * window),
            ack_policy=AckPolicy.MANUAL,
        )(_subscribed(handler))
        await self.broker.start()

    async def stop(self) -> None:
        await self.broker.stop()

    async def publish(self, bodies: Sequence[bytes], to: str, message_ids: Sequence[str]) -> None:
        await _each(
            [
                self.broker.publish(body, subject=to, stream=self.stream, headers={"Nats-Msg-Id": key})
                for body, key in zip(bodies, message_ids, strict=True)
            ]
        )

    async def ack(self, messages: Sequence[StreamMessage[Any]]) -> None:
        await _each([message.ack() for message in messages])

    def key(self, message: StreamMessage[Any]) -> str | None:
        return f"nats:{self.stream}:{message.raw_message.metadata.sequence.stream}"


def link_for(url: str, names: Names, *, reclaim: float = 30.0) -> Link:
    """The link for a broker URL, by its scheme: ``amqp://`` RabbitMQ, ``redis://`` Redis Streams, ``nats://``
    NATS JetStream."""
    scheme = urlsplit(url).scheme
    if scheme in ("amqp", "amqps"):
        return Rabbit(url, names)
    if scheme in ("redis", "rediss"):
        return Redis(url, names, reclaim)
    if scheme in ("nats", "tls"):
        return Nats(url, names, reclaim)
    known = ", ".join(f"{s}:// ({b})" for s, b in SCHEMES.items())
    raise InvalidInput([Problem("broker", f"unknown scheme {scheme + '://' if scheme else 'none'}; use {known}")])
