"""Which broker a URL names, and the names a flow's consumer uses by default."""

from __future__ import annotations

import pytest

from signoff.errors import InvalidInput
from signoff.streams import Names, link_for
from signoff.streams.brokers import Nats, Rabbit, Redis


def test_the_scheme_picks_the_broker() -> None:
    names = Names.of("credit-approval")
    assert isinstance(link_for("amqp://guest:guest@127.0.0.1:5672/", names), Rabbit)
    assert isinstance(link_for("redis://127.0.0.1:6379", names), Redis)
    assert isinstance(link_for("nats://127.0.0.1:4222", names), Nats)


@pytest.mark.parametrize("url", ["kafka://127.0.0.1:9092", "127.0.0.1:5672", "http://broker"])
def test_an_unknown_scheme_is_refused_with_the_ones_known(url: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        link_for(url, Names.of("f"))
    assert "broker: unknown scheme" in str(refused.value)
    assert "amqp:// (RabbitMQ)" in str(refused.value) and "nats:// (NATS JetStream)" in str(refused.value)


def test_a_flow_s_default_names() -> None:
    assert Names.of("f") == Names("signoff.f.cases", "signoff.f.decisions", "signoff.f.dead", "signoff-f")
