"""Cases from a message broker (RabbitMQ, Redis Streams, NATS JetStream) and their decisions back to it.

``consume`` takes a flow's cases from a queue in windows: a window of messages is validated and submitted as one
intake batch, and its messages are acknowledged only after that batch committed. A redelivered message replays its
case by external id; a message that cannot become a case goes to the dead-letter queue with its error and is then
acknowledged. Decisions follow the sealed audit trail through a delivery cursor, as webhooks do, and are published
to the reply queue as they are made: the model's at once, the reviewers' when a reviewer decides.
"""

from __future__ import annotations

from signoff.streams.brokers import Names, link_for
from signoff.streams.consume import Consumer

__all__ = ["Consumer", "Names", "link_for"]
