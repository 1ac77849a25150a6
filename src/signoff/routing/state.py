"""The engine's memory between batches: recent scores for capacity rules and the latest calibration.

Kept apart from the policy so that routing stays a pure function of (batch, state); this holder is the one
mutable piece, shared by the request threads of one process and guarded by a lock.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np

from signoff.config import CapacityRule
from signoff.routing.calibration import Certificate, Refusal
from signoff.routing.policy import Floats, Policy, PolicyState

T = TypeVar("T")


class RoutingState:
    def __init__(self, policy: Policy) -> None:
        self._lock = threading.Lock()
        self._history: dict[str, deque[float]] = {
            rule.name: deque(maxlen=rule.window) for rule in policy.rules if isinstance(rule, CapacityRule)
        }
        self._certificates: dict[str, Mapping[str | None, Certificate | Refusal]] = {}
        self._quantiles: dict[str, Certificate | Refusal] = {}
        self._calibrated_at = -math.inf
        self._file: Any = None

    @property
    def tracks_history(self) -> bool:
        return bool(self._history)

    def snapshot(self) -> PolicyState:
        with self._lock:
            return PolicyState(
                history={name: np.fromiter(values, dtype=np.float64) for name, values in self._history.items()},
                certificates=dict(self._certificates),
                quantiles=dict(self._quantiles),
            )

    def observe(self, scores: Mapping[str, Floats]) -> None:
        """Remember the scores of routed cases, per capacity rule, for its quantile."""
        with self._lock:
            for name, values in scores.items():
                if name in self._history:
                    self._history[name].extend(float(v) for v in values)

    def calibrated(
        self,
        certificates: Mapping[str, Mapping[str | None, Certificate | Refusal]],
        quantiles: Mapping[str, Certificate | Refusal],
    ) -> None:
        with self._lock:
            self._certificates = dict(certificates)
            self._quantiles = dict(quantiles)
            self._calibrated_at = time.monotonic()

    def stale(self, seconds: float) -> bool:
        """Whether the last calibration is older than ``seconds``."""
        return time.monotonic() - self._calibrated_at > seconds

    def remember_file(self, read: Callable[[], T]) -> T:
        """The scored calibration file, read once per process (it changes only with a new flow file)."""
        with self._lock:
            if self._file is None:
                self._file = read()
            result: T = self._file
            return result
