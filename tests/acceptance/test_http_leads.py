"""Leads over HTTP: assignment, skills, conflicts, gold cases and pauses, the reviewers' view; and the workload
limit as a 429 that says when to come back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers.api import Api
from helpers.builders import case, make_project
from signoff.api.app import create_app
from signoff.domain import Role
from signoff.store.database import Database

CASES = "/api/v1/flows/test-flow/cases"
GOLD = {"rate": 1.0, "min_accuracy": 0.9, "min_answers": 3}


@pytest.fixture
def api(db: Database, tmp_path: Path) -> Iterator[Api]:
    project = make_project(tmp_path, db.url, queues={"default": {"gold": GOLD}})
    project = project.model_copy(update={"workload": project.workload.model_copy(update={"max_per_hour": 4})})
    with TestClient(create_app(project)) as client:
        yield Api(client, db)


def _claim(api: Api, role: Role = Role.REVIEWER) -> dict[str, object]:
    response = api.post("/api/v1/tasks/claim", role)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", "/api/v1/tasks/1/assign"),
        ("put", "/api/v1/users/reviewer/skills"),
        ("post", "/api/v1/users/reviewer/conflicts"),
        ("delete", "/api/v1/users/reviewer/pauses/test-flow/default"),
        ("post", "/api/v1/flows/test-flow/gold"),
    ],
)
def test_only_leads_and_admins_run_the_floor(api: Api, method: str, url: str) -> None:
    for role in (Role.REVIEWER, Role.INTAKE, Role.AUDITOR, Role.OWNER):
        response = api.client.request(method, url, headers=api.as_(role), json={})
        assert response.status_code == 403, (role, response.text)


def test_a_lead_assigns_a_task_and_only_that_reviewer_gets_it(api: Api) -> None:
    api.post(CASES, json=case(0.5))
    assigned = api.post("/api/v1/tasks/1/assign", Role.LEAD, json={"reviewer": "admin"})
    assert assigned.status_code == 200 and assigned.json() == {"task_id": 1, "assignee": "admin"}
    assert api.post("/api/v1/tasks/claim", Role.REVIEWER).status_code == 204
    assert _claim(api, Role.ADMIN)["task"] == {"id": 1, "flow": "test-flow", "queue": "default", "kind": "review"}
    unknown = api.post("/api/v1/tasks/1/assign", Role.LEAD, json={"reviewer": "nobody"})
    assert unknown.status_code == 404


def test_gold_added_by_a_lead_is_served_as_a_review_and_wrong_answers_pause(api: Api) -> None:
    api.post(CASES, json={"cases": [case(0.5) for _ in range(2)]})
    bad = api.post(
        "/api/v1/flows/test-flow/gold", Role.LEAD, json={"cases": [{"fields": {"score": 0.9}, "label": "x"}]}
    )
    assert bad.status_code == 422
    assert {p["location"] for p in bad.json()["error"]["problems"]} == {"cases[0].fields.group", "cases[0].label"}
    gold = [{"fields": {"score": 0.9, "group": "b"}, "label": "bad"} for _ in range(4)]
    assert api.post("/api/v1/flows/test-flow/gold", Role.LEAD, json={"cases": gold}).json() == {"added": 4}
    for _ in range(3):
        claimed = _claim(api)
        task, case_ = claimed["task"], claimed["case"]
        assert isinstance(task, dict) and isinstance(case_, dict)
        assert task["kind"] == "review" and case_["status"] == "in_review"  # gold looks like any review
        token = claimed["lease"]["token"]  # type: ignore[index]
        api.post(f"/api/v1/tasks/{task['id']}/submit", Role.REVIEWER, json={"token": token, "label": "good"})
    assert api.post("/api/v1/tasks/claim", Role.REVIEWER).status_code == 204  # paused
    floor = api.client.get("/api/v1/reviewers", headers=api.as_(Role.LEAD)).json()
    assert [(g["reviewer"], g["answered"], g["correct"]) for g in floor["gold"]] == [("reviewer", 3, 0)]
    assert floor["gold"][0]["accuracy_high"] == pytest.approx(0.5615, abs=1e-4)
    assert [p["reviewer"] for p in floor["pauses"]] == ["reviewer"]
    lifted = api.client.delete("/api/v1/users/reviewer/pauses/test-flow/default", headers=api.as_(Role.LEAD))
    assert lifted.status_code == 200
    assert api.post("/api/v1/tasks/claim", Role.REVIEWER).status_code == 200
    again = api.client.delete("/api/v1/users/reviewer/pauses/test-flow/default", headers=api.as_(Role.LEAD))
    assert again.status_code == 404


def test_skills_and_conflicts_over_http(api: Api) -> None:
    api.post(CASES, json=case(0.5))
    skills = api.client.put("/api/v1/users/reviewer/skills", headers=api.as_(Role.LEAD), json={"skills": ["b", "a"]})
    assert skills.json() == {"name": "reviewer", "skills": ["a", "b"]}
    conflict = api.post("/api/v1/users/reviewer/conflicts", Role.LEAD, json={"case_id": 1, "reason": "her uncle"})
    assert conflict.status_code == 201
    assert api.post("/api/v1/tasks/claim", Role.REVIEWER).status_code == 204
    missing = api.post("/api/v1/users/reviewer/conflicts", Role.LEAD, json={"case_id": 99, "reason": "x"})
    assert missing.status_code == 404


def test_the_hourly_limit_is_429_with_retry_after(api: Api) -> None:
    api.post(CASES, json={"cases": [case(0.5) for _ in range(6)]})
    for _ in range(4):
        claimed = _claim(api)
        task, token = claimed["task"]["id"], claimed["lease"]["token"]  # type: ignore[index]
        api.post(f"/api/v1/tasks/{task}/submit", Role.REVIEWER, json={"token": token, "label": "good"})
    limited = api.post("/api/v1/tasks/claim", Role.REVIEWER)
    assert limited.status_code == 429
    assert "reviewed 4 tasks in the last hour" in limited.json()["error"]["message"]
    assert 3500 <= int(limited.headers["Retry-After"]) <= 3600
