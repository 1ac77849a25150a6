"""The edge refuses bad text and out-of-range numbers with 422 in the documented body and writes nothing; the
framework's own errors (unreadable JSON, too large, no such route) come in the same shape. Both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from helpers.api import Api
from helpers.builders import case, make_project
from signoff import audit, users
from signoff.api.app import create_app
from signoff.domain import Role
from signoff.store.database import Database
from signoff.web import security

CASES = "/api/v1/flows/test-flow/cases"
HUGE = 2**63  # one more than the largest BIGINT


@pytest.fixture
def api(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("SIGNOFF_MAX_REQUEST_BYTES", "2000000")
    with TestClient(create_app(make_project(tmp_path, db.url))) as client:
        yield Api(client, db)


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"} and {"type", "message"} <= set(body["error"]), body
    return body["error"]


def _reasons(response: Any) -> list[tuple[str, str]]:
    return [(p["location"], p["reason"]) for p in _error(response, 422)["problems"]]


def _leased(api: Api) -> tuple[int, int]:
    api.post(CASES, json=case(0.5))
    claimed = api.post("/api/v1/tasks/claim", Role.REVIEWER).json()
    return claimed["task"]["id"], claimed["lease"]["token"]


def test_a_lone_surrogate_in_skills_is_422_writes_nothing_and_sealing_goes_on(api: Api) -> None:
    """Finding 1's entry point: this used to commit, then stop the audit sealer on SQLite (500 on PostgreSQL)."""
    users.create_user(api.db, "bob", Role.REVIEWER, "test")
    before = api.rows()
    body = '{"skills": ["x\\ud800"]}'  # the JSON escape of a lone surrogate
    response = api.client.put(
        "/api/v1/users/bob/skills", content=body, headers={**api.as_(Role.LEAD), "content-type": "application/json"}
    )
    assert _reasons(response) == [("skills[0]", "contains a lone surrogate (U+D800) at position 1")]
    assert api.rows() == before
    audit.seal(api.db)
    assert audit.verify(api.db).ok


@pytest.mark.parametrize(
    ("url", "method", "body", "location"),
    [
        ("/api/v1/users/bob/skills", "put", {"skills": ["fr\x00aud"]}, "skills[0]"),
        ("/api/v1/users/bob/conflicts", "post", {"case_id": 1, "reason": "knows\x00them"}, "reason"),
        ("/api/v1/tasks/1/assign", "post", {"reviewer": "bo\x00b"}, "reviewer"),
        ("/api/v1/tasks/claim", "post", {"flow": "test-flow\x00"}, "flow"),
        (CASES, "post", case(0.1, external_id="loan\x00-7"), "case.external_id"),
        (CASES, "post", case(0.1, group="a\x00"), "case.fields.group"),
    ],
)
def test_nul_is_422_on_both_databases(api: Api, url: str, method: str, body: Any, location: str) -> None:
    users.create_user(api.db, "bob", Role.REVIEWER, "test")
    api.post(CASES, json=case(0.5))
    before = api.rows()
    response = api.client.request(method, url, json=body, headers=api.as_(Role.ADMIN))
    assert "contains a NUL character (U+0000)" in dict(_reasons(response))[location]
    assert api.rows() == before


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("evil\u202egnp.exe", "a bidirectional control (U+202E) at position 4"),
        ("\ufeffloan-7", "a byte order mark (U+FEFF) at position 0"),
        ("loan\x857", "a control character (U+0085) at position 4"),
        ("loan\u2066-7", "a bidirectional control (U+2066) at position 4"),
    ],
)
def test_names_refuse_bidi_controls_boms_and_c1_controls(api: Api, text: str, shown: str) -> None:
    """Finding 12: ids shown in the UI and in exports as names."""
    users.create_user(api.db, "bob", Role.REVIEWER, "test")
    before = api.rows()
    external = api.post(CASES, json=case(0.1, external_id=text))
    assert _reasons(external) == [("case.external_id", f"contains {shown}")]
    skill = api.client.put("/api/v1/users/bob/skills", json={"skills": [text]}, headers=api.as_(Role.LEAD))
    assert _reasons(skill) == [("skills[0]", f"contains {shown}")]
    assert api.rows() == before


def test_free_text_may_hold_bidi_marks_and_newlines(api: Api) -> None:
    task, token = _leased(api)
    comment = "\u05e9\u05dc\u05d5\u05dd \u202bmixed\u202c\nsecond line"
    done = api.post(
        f"/api/v1/tasks/{task}/submit", Role.REVIEWER, json={"token": token, "label": "good", "comment": comment}
    )
    assert done.status_code == 200, done.text


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("get", f"/api/v1/cases/{HUGE}", None),
        ("get", f"/api/v1/tasks?after={HUGE}", None),
        ("post", f"/api/v1/tasks/{HUGE}/heartbeat", {"token": 1}),
        ("post", f"/api/v1/tasks/{HUGE}/submit", {"token": 1, "label": "good"}),
        ("post", f"/api/v1/tasks/{HUGE}/skip", {"token": 1, "reason": "busy"}),
        ("post", f"/api/v1/tasks/{HUGE}/release", {"token": 1}),
        ("post", f"/api/v1/tasks/{HUGE}/assign", {"reviewer": None}),
        ("post", "/api/v1/tasks/1/submit", {"token": HUGE, "label": "good"}),
        ("post", "/api/v1/tasks/1/heartbeat", {"token": 2**31}),  # lease tokens are 32-bit
        ("post", "/api/v1/users/admin/conflicts", {"case_id": HUGE, "reason": "knows them"}),
    ],
)
def test_integers_beyond_the_database_range_are_422(api: Api, method: str, url: str, body: Any) -> None:
    before = api.rows()
    response = api.client.request(method, url, json=body, headers=api.as_(Role.ADMIN))
    assert _error(response, 422)["type"] == "invalid_input"
    assert api.rows() == before


def test_web_routes_refuse_integers_beyond_the_database_range(api: Api) -> None:
    for name, role in (("rita", Role.REVIEWER), ("audra", Role.AUDITOR)):
        users.create_user(api.db, name, role, "test")
        users.set_password(api.db, name, "a long enough password", "test")
    cookie = security.cookie_name(security.SESSION_COOKIE, False)
    reviewer = users.login(api.db, "rita", "a long enough password")
    api.client.cookies.set(cookie, reviewer.session_id)
    release = api.client.post(
        f"/review/tasks/{HUGE}/release", json={"token": 1}, headers={security.CSRF_HEADER: reviewer.csrf_token}
    )
    assert _error(release, 422)["type"] == "invalid_input"
    api.client.cookies.set(cookie, users.login(api.db, "audra", "a long enough password").session_id)
    assert _error(api.client.get(f"/audit/cases/{HUGE}.json"), 422)["type"] == "invalid_input"


@pytest.mark.parametrize(
    "body",
    [
        b'{"fields": {"score": 0.1, "group": "\xff"}}',  # not UTF-8
        b'{"fields": {"score": 0.1,',  # not JSON
        b"[" * 100_000 + b"]" * 100_000,  # nested past what a parser will follow
    ],
)
def test_an_unreadable_json_body_is_422_in_the_documented_shape(api: Api, body: bytes) -> None:
    response = api.post(CASES, content=body, headers={"content-type": "application/json"})
    assert _error(response, 422)["type"] == "invalid_input"
    assert api.rows()["cases"] == 0


def test_a_chunked_body_over_the_limit_is_413_in_the_documented_shape(api: Api) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is met while reading
        yield b'{"cases": ['
        for _ in range(60_000):  # about 2.7 MB
            yield json.dumps(case(0.1)).encode() + b","
        yield b"{}]}"

    response = api.post(CASES, content=chunks(), headers={"content-type": "application/json"})
    assert _error(response, 413)["type"] == "too_large"
    assert api.rows()["cases"] == 0


def test_unknown_routes_and_methods_answer_in_the_documented_shape(api: Api) -> None:
    assert _error(api.client.get("/api/v1/nothing-here"), 404)["type"] == "not_found"
    wrong = api.client.delete(CASES, headers=api.as_(Role.ADMIN))
    assert _error(wrong, 405)["type"] == "method_not_allowed" and "POST" in wrong.headers["allow"]


def test_an_error_body_stays_small_beside_a_large_invalid_batch(api: Api) -> None:
    bad = {"fields": {"score": "high", "group": "c", "colour": "red"}}
    body = json.dumps({"cases": [bad] * 10_000}).encode()
    response = api.post(CASES, content=body, headers={"content-type": "application/json"})
    error = _error(response, 422)
    assert len(error["problems"]) == 100 and error["omitted"] == 3 * 10_000 - 100
    assert len(response.content) < len(body) / 10
