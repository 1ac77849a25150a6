"""The client's core without a server: error bodies as exceptions, batches, retries and their waits. A plan is
driven here by hand, step by step, with the responses a server gives."""

from __future__ import annotations

import itertools
import json
from typing import Any

import httpx
import pytest

from signoff.api.schemas import ErrorOut
from signoff.client import core, errors
from signoff.client.core import Emit, Pause, Plan, Request, Retry, Returned


def response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    content = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    return httpx.Response(status, content=content, headers=headers, request=httpx.Request("GET", "http://x/"))


def error(kind: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message, **extra}}


@pytest.mark.parametrize(
    ("status", "kind", "expected"),
    [
        (401, "unauthenticated", errors.Unauthenticated),
        (403, "forbidden", errors.Forbidden),
        (404, "not_found", errors.NotFound),
        (409, "conflict", errors.Conflict),
        (413, "too_large", errors.TooLarge),
        (422, "invalid_input", errors.InvalidInput),
        (429, "limit_reached", errors.LimitReached),
        (502, "model_error", errors.ModelError),
        (503, "database_unavailable", errors.Unavailable),
        (503, "database_not_ready", errors.Unavailable),
        (500, "error", errors.ServerError),
        (405, "method_not_allowed", errors.ApiError),
    ],
)
def test_each_error_body_becomes_its_exception_with_status_code_and_message(
    status: int, kind: str, expected: type[errors.ApiError]
) -> None:
    found = errors.error_of(response(status, error(kind, "what went wrong")))
    assert type(found) is expected
    assert (found.status, found.code, found.message) == (status, kind, "what went wrong")
    assert str(found) == f"{status} {kind}: what went wrong"


def test_the_error_shape_read_is_the_api_s_own_model() -> None:
    body = error("invalid_input", "invalid batch", problems=[{"location": "cases[1].fields.amount", "reason": "x"}])
    ErrorOut.model_validate(body)  # what the server sends, by the server's model
    found = errors.error_of(response(422, body))
    assert isinstance(found, errors.InvalidInput)
    assert [(p.location, p.reason) for p in found.problems] == [("cases[1].fields.amount", "x")]


def test_a_limit_carries_the_wait_the_server_asks_for() -> None:
    found = errors.error_of(response(429, error("limit_reached", "too many leases"), {"Retry-After": "7"}))
    assert isinstance(found, errors.LimitReached) and found.retry_after == 7.0


def test_a_body_that_is_not_signoff_s_is_mapped_by_its_status_with_its_text() -> None:
    found = errors.error_of(response(502, b"<html><body>Bad   gateway</body></html>"))
    assert isinstance(found, errors.ModelError) and found.code == "error"
    assert found.message == "<html><body>Bad gateway</body></html>"
    assert isinstance(errors.error_of(response(504, b"")), errors.ServerError)


def test_chunks_are_read_lazily_and_the_last_is_shorter() -> None:
    endless = itertools.count()
    first = core.chunks(endless, 3)
    assert next(iter(first)) == [0, 1, 2]
    assert list(core.chunks(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(core.chunks([], 3)) == []
    with pytest.raises(ValueError, match="batch_size must be at least 1, not 0"):
        list(core.chunks([1], 0))


def test_a_case_keeps_its_external_id_and_one_without_is_given_a_new_one() -> None:
    kept = core.case_body({"external_id": "app-1", "fields": {"amount": 3}})
    assert kept == {"external_id": "app-1", "fields": {"amount": 3}}
    first, second = (core.case_body({"fields": {"amount": 3}}) for _ in range(2))
    assert first["external_id"].startswith("client-") and first["external_id"] != second["external_id"]
    with pytest.raises(ValueError, match="fields"):
        core.case_body({"external_id": "app-2"})


def test_backoff_doubles_up_to_its_cap_and_a_retry_after_is_honoured_up_to_it_too() -> None:
    retry = Retry(attempts=5, backoff=0.5, max_backoff=3.0)
    waits = [retry.delay(attempt) for attempt in range(5)]
    for wait, base in zip(waits, [0.5, 1.0, 2.0, 3.0, 3.0], strict=True):
        assert base <= wait <= base * 1.1
    assert retry.delay(0, asked=2.0) == 2.0
    assert retry.delay(0, asked=120.0) == 3.0


def drive(plan: Plan[Any], answers: list[httpx.Response | httpx.TransportError]) -> tuple[list[Any], Any]:
    """Run ``plan`` with these answers to its requests, in order: the steps it took and what it returned."""
    steps: list[Any] = []
    reply: httpx.Response | None = None
    failure: httpx.TransportError | None = None
    while not isinstance(step := core.advance(plan, reply, failure), Returned):
        steps.append(step)
        reply, failure = None, None
        if isinstance(step, Request):
            answer = answers.pop(0)
            reply, failure = (None, answer) if isinstance(answer, httpx.TransportError) else (answer, None)
    assert not answers, "every answer was asked for"
    return steps, step.value


def test_a_busy_server_is_asked_again_after_the_wait_it_names_and_the_answer_is_read() -> None:
    busy = response(503, error("database_unavailable", "busy"), {"Retry-After": "2"})
    later = response(429, error("limit_reached", "wait"))
    steps, found = drive(core.flows(Retry()), [busy, later, response(200, {"flows": []})])
    assert [type(s) for s in steps] == [Request, Pause, Request, Pause, Request]
    assert steps[1] == Pause(2.0)
    assert 0.5 <= steps[3].seconds <= 1.1  # no Retry-After: the backoff's second step
    assert found.flows == []


def test_retries_end_with_the_error_of_the_last_answer() -> None:
    busy = response(503, error("database_unavailable", "still busy"))
    with pytest.raises(errors.Unavailable, match="still busy"):
        drive(core.flows(Retry(attempts=2)), [busy, busy, busy])
    with pytest.raises(errors.Unavailable):
        drive(core.flows(core.NO_RETRY), [busy])


def test_other_errors_are_never_sent_again() -> None:
    with pytest.raises(errors.NotFound):
        drive(core.case(5, Retry()), [response(404, error("not_found", "case 5 does not exist"))])


def test_a_lost_answer_is_asked_again_only_for_a_request_that_records_once() -> None:
    lost = httpx.ReadTimeout("timed out")
    page = {"decisions": [], "next_after": None}
    steps, _ = drive(core.decisions("f", 0, 10, None, Retry()), [lost, response(200, page)])
    assert [type(s) for s in steps] == [Request, Pause, Request]
    with pytest.raises(errors.Unreachable, match="POST /api/v1/tasks/claim: ReadTimeout"):
        drive(core.claim(None, None, Retry()), [lost])
    refused = httpx.ConnectError("refused")  # never reached the server: safe to send any request again
    _, claimed = drive(core.claim(None, None, Retry()), [refused, response(204)])
    assert claimed is None


def test_batches_are_sent_in_chunks_each_with_external_ids() -> None:
    cases = ({"fields": {"n": n}} for n in range(5))
    answer = {"cases": []}
    plan = core.submit("f", cases, 2, Retry())
    steps, found = drive(plan, [response(201, answer)] * 3)
    sizes = [len(step.json["cases"]) for step in steps]
    assert sizes == [2, 2, 1] and found == []
    assert all(case["external_id"] for step in steps for case in step.json["cases"])


def test_decisions_are_read_page_by_page_from_the_cursor_until_caught_up() -> None:
    def made(seq: int) -> dict[str, Any]:
        return {
            "seq": seq,
            "case_id": seq,
            "external_id": None,
            "label": "approve",
            "decided_by": "model",
            "model_version_id": 1,
            "review_id": None,
            "created_at": "2026-01-01T00:00:00+00:00",
        }

    pages = [
        response(200, {"decisions": [made(3), made(5)], "next_after": 5}),
        response(200, {"decisions": [made(9)], "next_after": None}),
    ]
    steps, _ = drive(core.decisions("f", 2, 2, None, Retry()), pages)
    asked = [step.params["after"] for step in steps if isinstance(step, Request)]
    assert asked == [2, 5]
    assert [step.item.seq for step in steps if isinstance(step, Emit)] == [3, 5, 9]


def test_waiting_reads_the_case_until_decided_and_gives_up_at_its_timeout() -> None:
    case = {
        "id": 1, "flow": "f", "external_id": None, "fields": {}, "payload_hash": "h", "groups": {},
        "status": "in_review", "created_at": "2026-01-01T00:00:00+00:00", "decided_at": None, "submitted_by": None,
        "entity": None, "predictions": [], "routes": [], "tasks": [], "reviews": [], "decision": None,
    }  # fmt: skip
    decided = case | {
        "status": "decided",
        "decision": {
            "case_id": 1, "label": "approve", "decided_by": "reviewer", "model_version_id": None, "review_id": 4,
            "created_at": "2026-01-01T00:00:01+00:00",
        },
    }  # fmt: skip
    steps, found = drive(core.wait(1, 60.0, 0.2, Retry()), [response(200, case), response(200, decided)])
    assert [type(s) for s in steps] == [Request, Pause, Request] and found.label == "approve"
    with pytest.raises(errors.DecisionTimeout, match="case 1 was not decided within 0 s"):
        drive(core.wait(1, 0.0, 0.2, Retry()), [response(200, case)])
