"""A flow's model as an HTTP prediction service (``kind: http``): batches, timeouts, retries and a circuit breaker.

Every request goes through the SSRF guard (``signoff.net``): the service's host must be public or allowed by name
in the project file's ``network.allow``. A table of cases is sent in requests of at most ``batch_size`` cases. A
request that does not get through (refused, timed out, a 5xx or 429 answer) is tried again ``retries`` times after
``backoff`` seconds, doubled each time, with jitter; a call that still fails counts as one failure of the circuit.

The circuit breaker is pybreaker's (a maintained implementation of the closed / open / half-open pattern, thread
safe, with listeners): after ``circuit.failures`` failed calls in a row it opens, and for ``circuit.reset_after``
seconds every call fails at once without a request; then one trial call goes through (half-open) and closes the
circuit on success or opens it again. Both a failed call and an open circuit raise ``ModelUnavailable``: the
cases are then sent to review or held, as the flow says (``model.when_down``). An answer that is not what the
protocol promises (``BadAnswer``, a 4xx) is not an outage: it marks the cases' output invalid and leaves the
circuit alone.
"""

from __future__ import annotations

import logging
import os
import random
import time
import uuid
import weakref
from collections.abc import Iterable

import httpx
import numpy as np
import numpy.typing as npt
import pandas as pd
import pybreaker

from signoff import net
from signoff.config import Flow, ModelSpec
from signoff.errors import ModelError, ModelUnavailable
from signoff.models import protocols

log = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


class _Failed(Exception):
    """One call that did not get through after its retries: what the circuit counts."""


class _Transitions(pybreaker.CircuitBreakerListener):
    """Logs each change of the circuit's state, so that an outage and its end are seen."""

    def __init__(self, where: str) -> None:
        self.where = where

    def state_change(
        self, cb: pybreaker.CircuitBreaker, old_state: pybreaker.CircuitBreakerState | None, new_state: object
    ) -> None:
        old = old_state.name if old_state is not None else "none"
        log.warning("%s: circuit %s -> %s", self.where, old, getattr(new_state, "name", new_state))


class RemoteModel:
    """The ``predict`` of a prediction service: a table of cases in, probabilities ``(n, k)`` in label order out."""

    def __init__(self, flow: Flow, spec: ModelSpec, allow: Iterable[str], where: str) -> None:
        assert spec.url is not None
        self.url, self.spec, self.where = spec.url, spec, where
        self.labels = flow.labels
        self.types = {name: field.type for name, field in flow.fields.items()}
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=spec.circuit.failures,
            reset_timeout=spec.circuit.reset_after,
            exclude=[ModelError],  # a wrong answer or a refused address is not an outage
            listeners=[_Transitions(where)],
            name=where,
        )
        self.http = net.client(allow, timeout=spec.timeout)  # one pool of kept-alive connections per model
        weakref.finalize(self, self.http.close)  # a runtime replaced by a reload closes its connections
        token = os.environ.get(spec.token_env) if spec.token_env else None
        if spec.token_env and not token:
            raise ModelError(f"{where}.token_env: the environment variable {spec.token_env} is not set")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    @property
    def state(self) -> str:
        """The circuit's state: ``closed``, ``open`` or ``half-open``."""
        return str(self.breaker.current_state)

    def __call__(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        size = self.spec.batch_size
        parts = [self._call(frame.iloc[start : start + size]) for start in range(0, len(frame), size)]
        return np.concatenate(parts) if parts else np.empty((0, len(self.labels)))

    def _call(self, part: pd.DataFrame) -> npt.NDArray[np.float64]:
        spec = self.spec
        body = protocols.encode(
            spec.protocol,
            part,
            self.labels,
            self.types,
            mlflow_format=spec.format,
            tensor=spec.input,
            request_id=uuid.uuid4().hex,
        )
        try:
            answer = self.breaker.call(self._post, body)
        except pybreaker.CircuitBreakerError:
            raise ModelUnavailable(
                f"{self.url}: the circuit is open after {spec.circuit.failures} failed calls in a row; "
                f"a trial call goes through {spec.circuit.reset_after:g} s after it opened"
            ) from None
        except _Failed as failed:
            raise ModelUnavailable(str(failed)) from None
        return protocols.decode(spec.protocol, answer, len(part), self.labels, output=spec.output)

    def _post(self, body: dict[str, object]) -> object:
        """The answer's JSON, after up to ``retries`` further tries of a request that did not get through."""
        spec, problem = self.spec, ""
        for attempt in range(spec.retries + 1):
            if attempt:
                time.sleep(random.uniform(0.5, 1.0) * spec.backoff * 2 ** (attempt - 1))  # noqa: S311  # jitter
            try:
                response = self.http.post(self.url, json=body, headers=self.headers)
            except net.AddressRefused as refused:
                raise ModelError(f"{self.where}.url: {refused}") from None
            except httpx.TransportError as error:  # refused, reset, timed out
                problem = f"{type(error).__name__}: {error or 'no answer'}"
                continue
            if response.status_code in RETRIED_STATUSES:
                problem = f"HTTP {response.status_code}"
                continue
            if response.is_error:
                raise protocols.BadAnswer(f"{self.url} answered HTTP {response.status_code}: {response.text[:200]}")
            try:
                return response.json()
            except ValueError:
                raise protocols.BadAnswer(f"{self.url} answered with a body that is not JSON") from None
        raise _Failed(f"{self.url} did not answer after {spec.retries + 1} tries ({problem})")

    def close(self) -> None:
        self.http.close()
