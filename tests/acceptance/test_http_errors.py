"""Every bad input gets a clear error and writes nothing, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from helpers.api import Api
from helpers.builders import case, make_project
from signoff.api.app import create_app
from signoff.domain import Role
from signoff.store.database import Database


@pytest.fixture
def api(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("SIGNOFF_MAX_REQUEST_BYTES", "20000")
    project = make_project(tmp_path, db.url)
    with TestClient(create_app(project)) as client:
        yield Api(client, db)


CASES = "/api/v1/flows/test-flow/cases"


def _problems(response: Any) -> list[tuple[str, str]]:
    return [(p["location"], p["reason"]) for p in response.json()["error"]["problems"]]


def test_a_missing_or_unknown_token_is_401(api: Api) -> None:
    missing = api.client.post(CASES, json=case(0.1))
    assert missing.status_code == 401 and "Authorization: Bearer" in missing.json()["error"]["message"]
    unknown = api.client.post(CASES, json=case(0.1), headers={"Authorization": "Bearer so_forged"})
    assert unknown.status_code == 401 and "unknown or revoked" in unknown.json()["error"]["message"]
    assert api.rows()["cases"] == 0


@pytest.mark.parametrize(
    ("role", "method", "url"),
    [
        (Role.REVIEWER, "post", CASES),
        (Role.AUDITOR, "post", CASES),
        (Role.INTAKE, "post", "/api/v1/tasks/claim"),
        (Role.AUDITOR, "post", "/api/v1/tasks/claim"),
        (Role.INTAKE, "get", "/api/v1/tasks"),
        (Role.INTAKE, "get", "/api/v1/queues"),
    ],
)
def test_the_wrong_role_is_403(api: Api, role: Role, method: str, url: str) -> None:
    before = api.rows()
    extra = {"json": case(0.1)} if method == "post" else {}
    response = getattr(api.client, method)(url, headers=api.as_(role), **extra)
    assert response.status_code == 403
    assert f"role '{role.value}' may not do this" in response.json()["error"]["message"]
    assert api.rows() == before


def test_an_unknown_flow_or_case_is_404(api: Api) -> None:
    flow = api.post("/api/v1/flows/nope/cases", json=case(0.1))
    assert flow.status_code == 404 and flow.json()["error"]["message"] == "flow 'nope' does not exist"
    missing = api.client.get("/api/v1/cases/999", headers=api.as_(Role.AUDITOR))
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "case 999 does not exist"


@pytest.mark.parametrize(
    ("fields", "location", "reason"),
    [
        ({"score": "high", "group": "a"}, "case.fields.score", "must be a number, got str 'high'"),
        ({"score": True, "group": "a"}, "case.fields.score", "must be a number, got the boolean true"),
        ({"score": 1.5, "group": "a"}, "case.fields.score", "must be at most 1, got 1.5"),
        ({"score": 0.5, "group": "c"}, "case.fields.group", "must be one of ['a', 'b'], got 'c'"),
        ({"group": "a"}, "case.fields.score", "required number field is missing"),
        (
            {"score": 0.5, "group": "a", "colour": "red"},
            "case.fields.colour",
            "unknown field; this flow's fields are score, amount, group",
        ),
    ],
)
def test_wrong_fields_are_422_with_location_and_reason(
    api: Api, fields: dict[str, Any], location: str, reason: str
) -> None:
    response = api.post(CASES, json={"fields": fields})
    assert response.status_code == 422
    assert (location, reason) in _problems(response)
    assert api.rows()["cases"] == 0


@pytest.mark.parametrize(("literal", "shown"), [("NaN", "nan"), ("Infinity", "inf"), ("-Infinity", "-inf")])
def test_nan_and_infinity_are_422(api: Api, literal: str, shown: str) -> None:
    body = '{"fields": {"score": ' + literal + ', "group": "a"}}'
    response = api.post(CASES, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert _problems(response) == [("case.fields.score", f"must be a finite number, got {shown}")]
    assert api.rows()["cases"] == 0


def test_a_batch_with_one_bad_case_writes_nothing(api: Api) -> None:
    before = api.rows()
    response = api.post(CASES, json={"cases": [case(0.1), case(0.5), {"fields": {"score": None, "group": "a"}}]})
    assert response.status_code == 422
    assert _problems(response) == [("cases[2].fields.score", "required number field is missing")]
    assert "nothing was written" in response.json()["error"]["message"]
    assert api.rows() == before


def test_a_malformed_body_is_422(api: Api) -> None:
    broken = api.post(CASES, content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 422
    shape = api.post(CASES, json={"cases": "all of them"})
    assert shape.status_code == 422 and _problems(shape)[0][0] == "cases"


def test_an_oversized_request_is_413_and_writes_nothing(api: Api) -> None:
    big = {"cases": [case(0.1, external_id=f"id-{i:05d}") for i in range(400)]}
    response = api.post(CASES, json=big)
    assert response.status_code == 413
    assert "larger than 20000 bytes" in response.json()["error"]["message"]
    assert api.rows()["cases"] == 0


def test_a_reused_external_id_with_another_payload_is_409(api: Api) -> None:
    assert api.post(CASES, json=case(0.1, external_id="loan-7")).status_code == 201
    same = api.post(CASES, json=case(0.1, external_id="loan-7"))
    assert same.status_code == 200 and same.json()["case"]["created"] is False
    before = api.rows()
    other = api.post(CASES, json=case(0.2, external_id="loan-7"))
    assert other.status_code == 409
    assert "already submitted with a different payload" in other.json()["error"]["message"]
    assert api.rows() == before


def test_a_stale_lease_is_409_and_changes_nothing(api: Api) -> None:
    api.post(CASES, json=case(0.5))
    claimed = api.post("/api/v1/tasks/claim", Role.REVIEWER).json()
    task, token = claimed["task"]["id"], claimed["lease"]["token"]
    released = api.post(f"/api/v1/tasks/{task}/release", Role.REVIEWER, json={"token": token})
    assert released.status_code == 200
    before = api.rows()
    stale = api.post(f"/api/v1/tasks/{task}/submit", Role.REVIEWER, json={"token": token, "label": "good"})
    assert stale.status_code == 409
    assert (
        stale.json()["error"]["message"]
        == f"lease {token} on task {task} is refused: it was released; nothing was changed"
    )
    assert api.rows() == before


def test_an_empty_queue_is_204(api: Api) -> None:
    assert api.post("/api/v1/tasks/claim", Role.REVIEWER).status_code == 204


def test_task_listing_pages_by_keyset(api: Api) -> None:
    api.post(CASES, json={"cases": [case(0.5) for _ in range(5)]})
    first = api.client.get("/api/v1/tasks?limit=3", headers=api.as_(Role.AUDITOR)).json()
    second = api.client.get(f"/api/v1/tasks?limit=3&after={first['next_after']}", headers=api.as_(Role.AUDITOR)).json()
    ids = [t["id"] for t in first["tasks"] + second["tasks"]]
    assert ids == sorted(set(ids)) and len(ids) == 5 and second["next_after"] is None


def test_every_api_endpoint_requires_a_token(api: Api) -> None:
    from fastapi.routing import APIRoute

    routes = [r for r in api.client.app.routes if isinstance(r, APIRoute) and r.path.startswith("/api/v1")]  # type: ignore[attr-defined]
    assert len(routes) >= 8
    for route in routes:
        url = route.path.replace("{flow}", "test-flow").replace("{case_id}", "1").replace("{task_id}", "1")
        url = url.replace("{name}", "alice").replace("{queue}", "default")
        for method in route.methods:
            response = api.client.request(method, url, json={})
            assert response.status_code == 401, (method, url, response.status_code)


def test_the_queue_overview_answers_leads(api: Api) -> None:
    api.post(CASES, json={"cases": [case(0.5) for _ in range(3)]})
    body = api.client.get("/api/v1/queues?risk_window=60", headers=api.as_(Role.REVIEWER)).json()
    assert [(q["queue"], q["open"], q["leased"]) for q in body["queues"]] == [("default", 3, 0)]
    assert body["risk_window"] == 60


def test_a_skip_over_http_requeues_and_an_empty_reason_is_422(api: Api) -> None:
    api.post(CASES, json=case(0.5))
    claimed = api.post("/api/v1/tasks/claim", Role.REVIEWER).json()
    task, token = claimed["task"]["id"], claimed["lease"]["token"]
    empty = api.post(f"/api/v1/tasks/{task}/skip", Role.REVIEWER, json={"token": token, "reason": ""})
    assert empty.status_code == 422 and _problems(empty)[0][0] == "reason"
    done = api.post(
        f"/api/v1/tasks/{task}/skip", Role.REVIEWER, json={"token": token, "reason": "conflict", "unsure": True}
    )
    assert done.status_code == 200
    assert api.post("/api/v1/tasks/claim", Role.REVIEWER).status_code == 204  # not offered to the same reviewer
    assert api.post("/api/v1/tasks/claim", Role.ADMIN).json()["task"]["id"] == task
