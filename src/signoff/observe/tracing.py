"""OpenTelemetry tracing: one trace per case, from intake through scoring, routing and queueing to its review and
decision, even when the review comes hours later in another request or process.

Spans go out by OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (``configure``, called by the server);
otherwise the API's default provider makes every span a no-op and nothing is recorded or stored. A case's trace
context is kept on the case as a W3C ``traceparent``, so the claim and submit spans of a later request join the
case's trace. Intake works in batches: the score and route spans of every case in a batch share the batch's
timings, and each case's root span links to the batch's own span.

``JsonFormatter`` writes log records as JSON lines carrying the current trace and span ids, so logs and traces
can be joined (``SIGNOFF_LOG_FORMAT=json``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Link, Span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()
Attributes = Mapping[str, str | int | float | bool]


_provider: trace.TracerProvider | None = None


def use(provider: trace.TracerProvider | None) -> None:
    """Trace with ``provider`` instead of the global one (None goes back to the global): for tests, which
    cannot replace OpenTelemetry's global provider once it is set."""
    global _provider  # one switch for the process, read on every span
    _provider = provider


def tracer() -> trace.Tracer:
    return (_provider or trace.get_tracer_provider()).get_tracer("signoff")


def enabled() -> bool:
    """Whether spans are recorded at all: only then is a trace context worth reading or storing."""
    return isinstance(_provider or trace.get_tracer_provider(), TracerProvider)


def configure() -> bool:
    """Install an SDK provider exporting by OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (and no provider
    was installed yet); the standard ``OTEL_*`` variables (service name, headers, sampler) apply."""
    if enabled() or not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return enabled()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "signoff")})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True


def traceparent(span: Span) -> str | None:
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get("traceparent")


def context_of(value: str | None) -> Context | None:
    """The context to parent a span on, from a stored traceparent; None (a new trace) without one."""
    return _PROPAGATOR.extract({"traceparent": value}) if value else None


def now_ns() -> int:
    return time.time_ns()


class CaseTraces:
    """The root spans of a batch's cases, opened before the write (their traceparents are stored with the cases)
    and closed with their score, route and enqueue or decision children once the batch is recorded."""

    def __init__(self, flow: str, n: int, start: int) -> None:
        self.flow = flow
        self.start = start
        self.batch = tracer().start_span(
            "signoff.intake.batch", start_time=start, attributes={"signoff.flow": flow, "signoff.cases": n}
        )
        link = [Link(self.batch.get_span_context())]
        self.roots = [
            tracer().start_span(
                "signoff.case", context=Context(), start_time=start, links=link, attributes={"signoff.flow": flow}
            )
            for _ in range(n)
        ]

    def traceparents(self) -> list[str | None]:
        return [traceparent(span) for span in self.roots]

    def close(
        self,
        case_ids: Sequence[int],
        verdicts: Sequence[str],
        queues: Sequence[str | None],
        steps: Mapping[str, tuple[int, int]],
    ) -> None:
        end = now_ns()
        for root, case_id, verdict, queue in zip(self.roots, case_ids, verdicts, queues, strict=True):
            root.set_attribute("signoff.case_id", int(case_id))
            root.set_attribute("signoff.verdict", verdict)
            parent = trace.set_span_in_context(root)
            names = (
                ["score", "route"]
                + (["enqueue"] if verdict != "auto" else [])
                + (["decision"] if verdict != "review" else [])
            )
            for name in names:
                begin, finish = steps.get(name, steps.get("write", (self.start, end)))
                attributes: dict[str, Any] = {"signoff.flow": self.flow, "signoff.case_id": int(case_id)}
                if name == "enqueue" and queue is not None:
                    attributes["signoff.queue"] = queue
                if name == "decision":
                    attributes["signoff.decided_by"] = "model"
                span = tracer().start_span(f"signoff.{name}", context=parent, start_time=begin, attributes=attributes)
                span.end(end_time=finish)
            root.end(end_time=end)
        self.batch.end(end_time=end)


@contextmanager
def current(traces: CaseTraces | None) -> Iterator[None]:
    """Make the batch's span the current one (for log lines), when there is one."""
    if traces is None:
        yield
        return
    with trace.use_span(traces.batch, end_on_exit=False):
        yield


def record_span(name: str, parent: str | None, start: int, attributes: Attributes) -> Span:
    """A finished span of ``name`` from ``start`` to now, in the trace of the stored ``parent`` traceparent."""
    span = tracer().start_span(name, context=context_of(parent), start_time=start, attributes=attributes)
    span.end()
    return span


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the current trace and span ids if any."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            document["trace_id"] = format(context.trace_id, "032x")
            document["span_id"] = format(context.span_id, "016x")
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str)


def configure_logging() -> None:
    """With ``SIGNOFF_LOG_FORMAT=json``, the root logger writes JSON lines (see ``JsonFormatter``) to stderr."""
    if os.environ.get("SIGNOFF_LOG_FORMAT", "").lower() != "json":
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("SIGNOFF_LOG_LEVEL", "INFO").upper())
