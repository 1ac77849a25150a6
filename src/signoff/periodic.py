"""Background work in a server process: run a function every few seconds, surviving passing failures."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    """Calls ``work`` every ``interval`` seconds in a daemon thread; ``stop`` runs it once more if ``final``."""

    def __init__(self, name: str, work: Callable[[], object], interval: float, *, final: bool = False) -> None:
        self.name = name
        self.work = work
        self.interval = interval
        self.final = final
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"signoff-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self.final:
            self.work()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.work()
            except Exception:  # a passing database error must not end the background work
                log.exception("%s failed; retrying in %.2f s", self.name, self.interval)
