"""One link per broker, through FastStream: subscribe to a flow's cases with manual acknowledgement, publish a
decision or a dead letter so that the broker keeps it, and name a message by a key its redelivery keeps.

FastStream gives RabbitMQ, Redis Streams and NATS JetStream one interface (subscribers, messages with ``ack``,
``publish``); what differs between them is how a queue is declared and how a message abandoned by a killed
consumer comes back, and that is all this module says.
"""

from __future__ import annotations

import asyncio
import json
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


@dataclass(frozen=True)
class Delivery:
    """One message as the consumer sees it: its body, the key its redeliveries keep (the broker's own message id,
    if it gives one) and what the link acknowledges it by."""

    body: bytes
    key: str | None
    handle: Any


Handler = Callable[[Sequence[Delivery]], Awaitable[None]]
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
        """Connect, declare the queues and start delivering cases to ``handler``, as many at a time as the broker
        hands over together (at most ``window`` unacknowledged)."""

    async def stop(self) -> None: ...

    async def publish(self, bodies: Sequence[bytes], to: str, message_ids: Sequence[str]) -> None:
        """Publish durably: once this returns, the broker keeps the messages."""

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Acknowledge the messages: the broker forgets them."""


MESSAGE = Context("message")  # FastStream's way to hand a subscriber the message object
Unpack = Callable[[StreamMessage[Any]], Sequence[Delivery]]


def _subscribed(handler: Handler, unpack: Unpack) -> Callable[..., Awaitable[None]]:
    """``handler`` as FastStream calls it: given the message object itself, one message or a batch, unpacked into
    deliveries (their bodies are decoded by intake, not here)."""

    async def on_message(message: StreamMessage[Any] = MESSAGE) -> None:
        await handler(unpack(message))

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
        )(_subscribed(handler, self._unpack))
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

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        await _each([delivery.handle.ack() for delivery in deliveries])

    def _unpack(self, message: StreamMessage[Any]) -> Sequence[Delivery]:
        """AMQP hands over one message at a time (the prefetch keeps ``window`` of them on their way)."""
        given = message.raw_message.message_id
        return [Delivery(message.body, None if given is None else f"amqp:{self.names.cases}:{given}", message)]


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
        for idle_for, polling in ((None, 100), (idle, 500)):  # new entries; entries left idle by another consumer
            stream = StreamSub(
                self.names.cases,
                group=self.names.group,
                consumer=me,
                max_records=window,
                batch=True,
                min_idle_time=idle_for,
                polling_interval=polling,
            )
            self.broker.subscriber(stream=stream, ack_policy=AckPolicy.MANUAL)(_subscribed(handler, self._unpack))
        await self.broker.start()

    async def stop(self) -> None:
        await self.broker.stop()

    async def publish(self, bodies: Sequence[bytes], to: str, message_ids: Sequence[str]) -> None:
        client = await self.broker.connect()  # plain entries, readable by any client: the body under __data__
        async with client.pipeline(transaction=False) as pipe:
            for body, key in zip(bodies, message_ids, strict=True):
                pipe.xadd(to, {"__data__": body, "message_id": key})
            await pipe.execute()

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """One XACK for the whole window."""
        if deliveries:
            client = await self.broker.connect()
            await client.xack(self.names.cases, self.names.group, *(delivery.handle for delivery in deliveries))

    def _unpack(self, message: StreamMessage[Any]) -> Sequence[Delivery]:
        """A batch read by one XREADGROUP (or XAUTOCLAIM), acknowledged by entry id. An entry's body is read as
        FastStream reads one message: its ``__data__`` field in FastStream's envelope (as its producers publish)
        or plain (as Signoff publishes), or else the entry's fields as a JSON object."""
        raw = message.raw_message
        return [
            Delivery(self._body(entry), f"redis:{self.names.cases}:{id_.decode()}", id_)
            for entry, id_ in zip(raw["data"], raw["message_ids"], strict=True)
        ]

    def _body(self, entry: dict[bytes, bytes]) -> bytes:
        data = entry.get(b"__data__")
        if data is None:
            fields = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in entry.items()}
            data = json.dumps(fields).encode()
        body: bytes = self.broker.message_format.parse(data)[0]
        return body


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
            # A pull asks for a window and returns with what there is. Its timeout only bounds the wait on an empty
            # stream: a short one, missed on a loaded machine, left messages pulled for nobody until ``ack_wait``.
            pull_sub=PullSub(batch_size=window, timeout=1.0, batch=True),
            config=ConsumerConfig(ack_wait=self.reclaim, max_ack_pending=4 * window),
            ack_policy=AckPolicy.MANUAL,
        )(_subscribed(handler, self._unpack))
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

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        await _each([delivery.handle.ack() for delivery in deliveries])

    def _unpack(self, message: StreamMessage[Any]) -> Sequence[Delivery]:
        """A pulled batch: each NATS message keyed by its sequence in the stream, acknowledged by itself."""
        return [
            Delivery(raw.data, f"nats:{self.stream}:{raw.metadata.sequence.stream}", raw) for raw in message.raw_message
        ]


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
