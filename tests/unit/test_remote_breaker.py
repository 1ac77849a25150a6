"""A remote model's calls: batches, retries, and the circuit's states (closed, open, half-open, closed again), over
an in-memory HTTP transport that answers as the test says; and the flow file's checks of a remote model."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers.builders import flow_document, make_flow, make_project
from signoff.errors import ConfigError, ModelError, ModelUnavailable
from signoff.models import load_model
from signoff.models.frames import frame_of
from signoff.models.remote import RemoteModel

Answer = Callable[[httpx.Request], httpx.Response]


def _model(answer: Answer, **spec: Any) -> tuple[RemoteModel, list[httpx.Request]]:
    document = {
        "kind": "http",
        "url": "http://127.0.0.1:1/predict",
        "version": "r1",
        "retries": 1,
        "backoff": 0,
        "batch_size": 2,
        "circuit": {"failures": 2, "reset_after": 0.3},
        **spec,
    }
    flow = make_flow(model=document)
    assert flow.model is not None
    model = RemoteModel(flow, flow.model, ["127.0.0.1"], "flows.test-flow.model")
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answer(request)

    model.http = httpx.Client(transport=httpx.MockTransport(handler))
    return model, sent


def _frame(n: int) -> Any:
    return frame_of(make_flow(), [{"score": 0.1, "group": "a"}] * n)


def _ok(request: httpx.Request) -> httpx.Response:
    n = len(httpx.Response(200, content=request.content).json()["instances"])
    return httpx.Response(200, json={"probabilities": [[0.9, 0.1]] * n})


def _down(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def test_a_table_goes_in_requests_of_at_most_batch_size() -> None:
    model, sent = _model(_ok)
    assert model(_frame(5)).shape == (5, 2)
    assert [len(httpx.Response(200, content=r.content).json()["instances"]) for r in sent] == [2, 2, 1]


def test_a_failed_request_is_retried_then_counts_once_and_the_circuit_opens_after_failures_in_a_row() -> None:
    model, sent = _model(_down)
    with pytest.raises(ModelUnavailable, match=r"did not answer after 2 tries \(ConnectError"):
        model(_frame(1))
    assert len(sent) == 2 and model.state == "closed"  # one call: a try and a retry; one failure of two
    with pytest.raises(ModelUnavailable):
        model(_frame(1))
    assert model.state == "open" and len(sent) == 4
    with pytest.raises(ModelUnavailable, match="the circuit is open after 2 failed calls"):
        model(_frame(1))
    assert len(sent) == 4  # open: no request at all


def test_half_open_after_reset_a_failed_trial_opens_it_again_and_a_good_one_closes_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answers: list[Answer] = [_down]
    model, sent = _model(lambda request: answers[0](request), retries=0)
    for _ in range(2):
        with pytest.raises(ModelUnavailable):
            model(_frame(1))
    assert model.state == "open"
    time.sleep(0.35)
    with pytest.raises(ModelUnavailable):  # the trial call fails: open again, for another period
        model(_frame(1))
    assert model.state == "open" and len(sent) == 3
    time.sleep(0.35)
    answers[0] = _ok
    assert model(_frame(1)).tolist() == [[0.9, 0.1]]  # the trial succeeds
    assert model.state == "closed"
    changes = [
        r.getMessage().removeprefix("flows.test-flow.model: ") for r in caplog.records if "circuit" in r.getMessage()
    ]
    assert changes == [
        "circuit closed -> open",
        "circuit open -> half-open",
        "circuit half-open -> open",
        "circuit open -> half-open",
        "circuit half-open -> closed",
    ]


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_overload_and_server_errors_are_retried(status: int) -> None:
    statuses = [status, 200]
    model, sent = _model(lambda r: httpx.Response(statuses.pop(0), json={"probabilities": [[0.5, 0.5]]}))
    assert model(_frame(1)).tolist() == [[0.5, 0.5]] and len(sent) == 2


def test_a_wrong_answer_is_not_an_outage() -> None:
    model, sent = _model(lambda r: httpx.Response(400, text="unknown field"), circuit={"failures": 1})
    for _ in range(3):
        with pytest.raises(ModelError, match="answered HTTP 400: unknown field") as caught:
            model(_frame(1))
        assert not isinstance(caught.value, ModelUnavailable)
    assert model.state == "closed" and len(sent) == 3  # never retried, never opens the circuit


def test_an_unavailable_model_marks_every_case_with_why() -> None:
    model, _ = _model(_down, retries=0)
    flow = make_flow(model={"kind": "http", "url": "http://127.0.0.1:1/predict", "version": "r1"})
    from signoff.models.adapters import LoadedModel

    loaded = LoadedModel(flow.name, flow.labels, "http", "u", "r1", None, predict=model)
    scores = loaded.score(_frame(3))
    assert scores.problems[0] is not None and scores.problems[0].startswith("the model is unavailable: ")
    assert not scores.valid.any()


def test_a_url_the_guard_refuses_is_a_load_error_naming_the_field(tmp_path: Path) -> None:
    model = {"kind": "http", "url": "http://0x7f000001:8080/predict", "version": "r1"}
    project = make_project(tmp_path, "sqlite://", model=model)
    with pytest.raises(ModelError, match=r"flows.test-flow.model.url: refused to connect to 127.0.0.1, a loopback"):
        load_model(project, project.flows["test-flow"])


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"kind": "http", "version": "r1"}, "needs 'url'"),
        ({"kind": "http", "url": "http://m/predict"}, "needs 'version'"),
        ({"kind": "http", "url": "http://m/predict", "version": "r", "protocol": "kserve"}, "/v2/models/<name>"),
        ({"kind": "http", "url": "http://m/score", "version": "r", "protocol": "mlflow"}, "ends in /invocations"),
        ({"kind": "http", "url": "http://m/p", "version": "r", "format": "instances"}, "only for protocol mlflow"),
        ({"kind": "python", "entry_point": "a:b", "version": "1", "when_down": "hold"}, "only for a model of kind"),
        ({"kind": "onnx"}, "needs 'path'"),
        ({"kind": "http", "url": "ftp://m/p", "version": "r"}, "url"),
    ],
)
def test_the_flow_file_refuses_an_incomplete_remote_model(tmp_path: Path, model: dict[str, Any], message: str) -> None:
    from signoff.config import parse_project

    with pytest.raises(ConfigError, match=message):
        parse_project({"flows": {"f": flow_document(model=model)}}, tmp_path / "signoff.yaml")
