"""Running a coroutine to its end from a test."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_apart(work: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(work)`` on a loop of its own in a thread of its own: in the whole suite an earlier test's loop
    (Playwright's sync API keeps one) may be running in this thread, and ``asyncio.run`` refuses to start there."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, work).result()
