"""OpenTelemetry: with an in-memory exporter, each case is one trace from intake (score, route, enqueue or
decision) to its review (claim, submit, decision), the review joining through the traceparent stored on the case;
without a provider nothing is stored. Log lines carry the trace id as JSON."""

from __future__ import annotations

import io
import json
import logging
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select

from helpers.builders import make_project
from helpers.queues import reviewer
from signoff import intake, review
from signoff.intake import validate_case
from signoff.observe import tracing
from signoff.store.database import Database
from signoff.store.schema import cases


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider)
    yield exporter
    tracing.use(None)
    provider.shutdown()


def _submit(db: Database, tmp_path: Path, scores: list[float]) -> None:
    project = make_project(tmp_path, db.url)
    runtime = intake.prepare(db, project)["test-flow"]
    found = []
    for i, score in enumerate(scores):
        case, _ = validate_case(runtime.flow, f"c{i}", {"score": score, "group": "a"}, f"cases[{i}]")
        assert case is not None
        found.append(case)
    intake.submit(db, runtime, found, "tester")
    alice = reviewer(db, "alice")
    while (got := review.claim(db, project, alice)) is not None:
        review.submit(db, project, alice, got.task_id, got.token, "bad")


def test_one_trace_per_case_from_intake_to_review(db: Database, tmp_path: Path, spans: InMemorySpanExporter) -> None:
    _submit(db, tmp_path, [0.5, 0.6, 0.1])  # two flagged for review, one decided by the model
    with db.transaction(write=False) as conn:
        stored = dict(conn.execute(select(cases.c.id, cases.c.traceparent).order_by(cases.c.id)).all())
    assert len(stored) == 3 and all(v and v.startswith("00-") for v in stored.values())

    traces: defaultdict[int, list[str]] = defaultdict(list)
    case_of_trace: dict[int, int] = {}
    for span in spans.get_finished_spans():
        traces[span.context.trace_id].append(span.name)
        if span.name == "signoff.case":
            case_of_trace[span.context.trace_id] = int(span.attributes["signoff.case_id"])
    assert len(case_of_trace) == 3  # one trace per case
    by_case = {case_of_trace[t]: sorted(names) for t, names in traces.items() if t in case_of_trace}
    flagged = sorted(
        [
            "signoff.case",
            "signoff.score",
            "signoff.route",
            "signoff.enqueue",
            "signoff.review.claim",
            "signoff.review.submit",
            "signoff.decision",
        ]
    )
    ids = sorted(stored)
    assert by_case[ids[0]] == flagged and by_case[ids[1]] == flagged
    assert by_case[ids[2]] == sorted(["signoff.case", "signoff.score", "signoff.route", "signoff.decision"])
    # the stored traceparent names the case's trace
    for case_id, parent in stored.items():
        trace_id = int(parent.split("-")[1], 16)
        assert case_of_trace[trace_id] == case_id
    # the batch has its own span, linked from each case's root
    batch = [s for s in spans.get_finished_spans() if s.name == "signoff.intake.batch"]
    assert len(batch) == 1
    roots = [s for s in spans.get_finished_spans() if s.name == "signoff.case"]
    assert all(r.links and r.links[0].context.span_id == batch[0].context.span_id for r in roots)


def test_without_a_provider_nothing_is_traced_or_stored(db: Database, tmp_path: Path) -> None:
    assert not tracing.enabled()
    _submit(db, tmp_path, [0.5])
    with db.transaction(write=False) as conn:
        assert conn.execute(select(cases.c.traceparent)).scalars().all() == [None]


def test_json_log_lines_carry_the_trace_id(spans: InMemorySpanExporter) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(tracing.JsonFormatter())
    log = logging.getLogger("signoff.test-json")
    log.addHandler(handler)
    log.propagate = False
    try:
        with tracing.tracer().start_as_current_span("work") as span:
            log.warning("inside %s", "a span")
        log.warning("outside")
    finally:
        log.removeHandler(handler)
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["message"] == "inside a span" and inside["level"] == "warning"
    assert inside["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert "trace_id" not in outside


def test_a_log_line_written_while_scoring_carries_the_batch_trace_id(
    db: Database, tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    novelty = {"entry_point": "helpers.models:crashes", "limit": 1}
    project = make_project(
        tmp_path, db.url, policy=[{"name": "novel", "kind": "out_of_distribution", "novelty": novelty}]
    )
    runtime = intake.prepare(db, project)["test-flow"]
    case, _ = validate_case(runtime.flow, "c0", {"score": 0.1, "group": "a"}, "case")
    assert case is not None
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)  # formats as each line is written, inside whatever span is current
    handler.setFormatter(tracing.JsonFormatter())
    log = logging.getLogger("signoff.intake.service")
    log.addHandler(handler)
    try:
        intake.submit(db, runtime, [case], "tester")
    finally:
        log.removeHandler(handler)
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["message"] == "novelty scorer failed" and "RuntimeError: the model server is down" in line["exception"]
    batch = next(s for s in spans.get_finished_spans() if s.name == "signoff.intake.batch")
    assert line["trace_id"] == format(batch.context.trace_id, "032x")
