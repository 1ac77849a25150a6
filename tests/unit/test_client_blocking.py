"""The blocking ``Client`` is ``AsyncClient``'s methods run on a loop of its own: here over an ``httpx.AsyncClient``
whose transport answers in process (no server), called from plain code and from inside a running event loop."""

from __future__ import annotations

import asyncio
import inspect
import threading
from typing import Any

import httpx
import pytest

from helpers.loops import run_apart
from signoff.client import AsyncClient, Client, NotFound

FLOWS = {"flows": []}


def _decision(seq: int) -> dict[str, Any]:
    return {
        "seq": seq,
        "case_id": seq,
        "external_id": f"c{seq}",
        "label": "approve",
        "decided_by": "model",
        "model_version_id": 1,
        "review_id": None,
        "created_at": "2026-01-01T00:00:00+00:00",
    }


def _answer(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/api/v1/flows":
        return httpx.Response(200, json=FLOWS)
    if request.url.path == "/api/v1/flows/f/decisions":
        after = int(request.url.params["after"])
        page = [_decision(seq) for seq in range(after + 1, min(after + 3, 5) + 1)]
        return httpx.Response(200, json={"decisions": page, "next_after": page[-1]["seq"] if page else None})
    return httpx.Response(404, json={"error": {"type": "not_found", "message": "nothing here"}})


def _client() -> Client:
    transport = httpx.MockTransport(_answer)
    return Client("http://signoff", "t", http=httpx.AsyncClient(base_url="http://signoff", transport=transport))


def _loops() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "signoff-client")


def test_every_blocking_method_is_the_async_one_with_its_parameters_and_docstring() -> None:
    public = [name for name in vars(AsyncClient) if not name.startswith("_") and name != "close"]
    assert public
    for name in public:
        blocking, awaited = getattr(Client, name), getattr(AsyncClient, name)
        assert inspect.signature(blocking).parameters == inspect.signature(awaited).parameters, name
        assert blocking.__doc__ == awaited.__doc__


def test_calls_answers_errors_and_paged_iteration_block_until_done() -> None:
    before = _loops()
    with _client() as client:
        assert client.flows().flows == []
        with pytest.raises(NotFound, match="nothing here"):
            client.case(7)
        assert [d.seq for d in client.decisions("f", limit=3)] == [1, 2, 3, 4, 5]
        first = next(iter(client.decisions("f")))  # left unfinished: its generator is closed, not leaked
        assert first.seq == 1
    assert _loops() == before  # close() stopped the loop and its thread
    client.close()  # a second close does nothing


def test_a_blocking_client_works_inside_a_running_event_loop() -> None:
    async def inside() -> int:
        asyncio.get_running_loop()  # asyncio.run(...) would refuse to start here
        with _client() as client:
            return len(client.flows().flows)

    assert run_apart(inside()) == 0
