"""``Client``: ``AsyncClient``'s methods, each run to its end on the client's own event loop in a private thread.

Every method is written once, in ``AsyncClient``; ``_blocking`` and ``_blocking_items`` make the blocking ones from
it with the same parameters, defaults and docstring (``ParamSpec`` keeps them typed). The loop lives in a thread of
its own, so a blocking client works the same from plain code and from inside a running event loop (a notebook, an
async web framework's sync handler) that ``asyncio.run`` would refuse.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Iterator
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar, Unpack

from signoff.client.aio import AsyncClient, Options
from signoff.client.core import Retry

P = ParamSpec("P")
R = TypeVar("R")
Item = TypeVar("Item")


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    try:
        loop.run_forever()
    finally:
        loop.close()


async def _following(items: AsyncIterator[Item]) -> Item:
    return await anext(items)


def _blocking(
    method: Callable[Concatenate[AsyncClient, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[Client, P], R]:
    """``method`` as a blocking call on a ``Client``: awaited on the client's loop, its result or its exception."""

    def call(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._wait(method(self._async, *args, **kwargs))

    functools.update_wrapper(call, method)
    return call


def _blocking_items(
    method: Callable[Concatenate[AsyncClient, P], AsyncIterator[Item]],
) -> Callable[Concatenate[Client, P], Iterator[Item]]:
    """``method``'s async iterator as a blocking one: each item read on the client's loop when it is asked for."""

    def call(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> Iterator[Item]:
        items = method(self._async, *args, **kwargs)
        try:
            while True:
                try:
                    item = self._wait(_following(items))
                except StopAsyncIteration:
                    return
                yield item
        finally:
            if isinstance(items, AsyncGenerator) and self._stop.alive:
                self._wait(items.aclose())

    functools.update_wrapper(call, method)
    return call


class Client:
    """Signoff's API at ``base_url`` as the holder of ``token``, with blocking calls; a context manager that closes
    its connections and its loop. It takes ``AsyncClient``'s arguments (``timeout``, ``retry``, ``http``: an
    ``httpx.AsyncClient``) and hands them to the one it drives."""

    def __init__(self, base_url: str, token: str, **options: Unpack[Options]) -> None:
        self._async = AsyncClient(base_url, token, **options)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=_serve, args=(self._loop,), name="signoff-client", daemon=True)
        self._thread.start()
        # A client dropped without close() stops its loop and thread when it is collected.
        self._stop = weakref.finalize(self, self._loop.call_soon_threadsafe, self._loop.stop)

    @property
    def retry(self) -> Retry:
        return self._async.retry

    @retry.setter
    def retry(self, retry: Retry) -> None:
        self._async.retry = retry

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections, then stop the loop and its thread; closing twice does nothing more."""
        if not self._stop.alive:
            return
        try:
            self._wait(self._async.close())
        finally:
            self._stop()
            self._thread.join()

    def _wait(self, work: Coroutine[Any, Any, R]) -> R:
        """Run ``work`` on the client's loop and wait for it; interrupted (Ctrl-C), the work is cancelled."""
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    flows = _blocking(AsyncClient.flows)
    submit = _blocking(AsyncClient.submit)
    case = _blocking(AsyncClient.case)
    wait = _blocking(AsyncClient.wait)
    decisions = _blocking_items(AsyncClient.decisions)
    record_outcome = _blocking(AsyncClient.record_outcome)
    record_outcomes = _blocking(AsyncClient.record_outcomes)
    claim = _blocking(AsyncClient.claim)
    held = _blocking(AsyncClient.held)
    submit_review = _blocking(AsyncClient.submit_review)
    heartbeat = _blocking(AsyncClient.heartbeat)
    skip = _blocking(AsyncClient.skip)
    release = _blocking(AsyncClient.release)
