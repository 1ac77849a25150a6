"""The review workspace's page script and the API answer a submit and a lease renewal in the same shape: the
page adds only the next task. Both databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers.api import Api
from helpers.builders import case, make_project
from signoff import users
from signoff.api.app import create_app
from signoff.domain import Role
from signoff.store.database import Database
from signoff.web import security

CASES = "/api/v1/flows/test-flow/cases"


@pytest.fixture
def api(db: Database, tmp_path: Path) -> Iterator[Api]:
    with TestClient(create_app(make_project(tmp_path, db.url))) as client:
        yield Api(client, db)


def test_the_page_script_gets_the_apis_answers_plus_the_next_task(api: Api) -> None:
    for _ in range(2):
        api.post(CASES, json=case(0.5))
    claimed = api.post("/api/v1/tasks/claim", Role.REVIEWER).json()
    lease = {"token": claimed["lease"]["token"]}
    by_api = {
        "heartbeat": api.post(f"/api/v1/tasks/{claimed['task']['id']}/heartbeat", Role.REVIEWER, json=lease).json(),
        "submit": api.post(
            f"/api/v1/tasks/{claimed['task']['id']}/submit", Role.REVIEWER, json={**lease, "label": "good"}
        ).json(),
    }

    users.create_user(api.db, "rita", Role.REVIEWER, "test")
    users.set_password(api.db, "rita", "a long enough password", "test")
    session = users.login(api.db, "rita", "a long enough password")
    api.client.cookies.set(security.cookie_name(security.SESSION_COOKIE, False), session.session_id)
    headers = {security.CSRF_HEADER: session.csrf_token}
    task = api.client.post("/review/next", headers=headers).json()["task"]
    lease = {"token": task["token"]}
    beat = api.client.post(f"/review/tasks/{task['id']}/heartbeat", json=lease, headers=headers)
    answer = {**lease, "label": "good", "next": True}
    submitted = api.client.post(f"/review/tasks/{task['id']}/submit", json=answer, headers=headers)

    assert beat.status_code == submitted.status_code == 200, (beat.text, submitted.text)
    assert beat.json()["lease"]["token"] == task["token"]
    assert set(beat.json()) == set(by_api["heartbeat"])
    assert set(beat.json()["lease"]) == set(by_api["heartbeat"]["lease"])
    body = submitted.json()
    assert set(body) == set(by_api["submit"]) | {"next"}
    assert set(body["decision"]) == set(by_api["submit"]["decision"])
    assert body["review_id"] == body["decision"]["review_id"] and body["decision"]["label"] == "good"
    assert body["next"] == {"task": None, "html": body["next"]["html"]}  # both cases are answered
