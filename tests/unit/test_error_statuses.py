"""One map from errors to HTTP statuses for both HTTP edges, and one reading of pydantic's errors."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from signoff.errors import (
    DatabaseNotReady,
    DatabaseUnavailable,
    LimitReached,
    ModelError,
    NotFound,
    Problem,
    SignoffError,
    problems_of,
    status_of,
)
from signoff.web.dependencies import CsrfRefused
from signoff.web.logins import LoginBusy


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (NotFound("case", 1), (404, "not_found")),
        (LimitReached("slow down"), (429, "limit_reached")),
        (ModelError(), (502, "model_error")),  # the web UI answered these 500
        (DatabaseUnavailable(), (503, "database_unavailable")),
        (DatabaseNotReady(), (503, "database_not_ready")),
        (CsrfRefused(), (403, "forbidden")),
        (LoginBusy("busy"), (429, "limit_reached")),
        (SignoffError("anything else"), (500, "error")),
    ],
)
def test_both_http_edges_answer_an_error_with_one_status(error: SignoffError, expected: tuple[int, str]) -> None:
    assert status_of(error) == expected


class _Item(BaseModel):
    amount: int


class _Batch(BaseModel):
    cases: list[_Item]


def test_pydantic_errors_are_located_as_every_message_writes_a_place() -> None:
    with pytest.raises(ValidationError) as raised:
        _Batch.model_validate({"cases": [{"amount": 1}, {"amount": "x"}]})
    items = raised.value.errors(include_url=False)
    assert [p.location for p in problems_of(items)] == ["cases[1].amount"]
    framework = [{**item, "loc": ("body", *item["loc"])} for item in items]  # FastAPI's leading "body" is dropped
    assert problems_of(framework) == problems_of(items)
    assert [p.location for p in problems_of(items, ("flows", "f"))] == ["flows.f.cases[1].amount"]
    assert problems_of([{"loc": (), "type": "x", "msg": "Value error, nope"}]) == [Problem("body", "nope")]
